"""Saved sign-ins on disk: private directories, listing, choosing, forgetting; lazy imports."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from walletbackup_icloud import accounts
from walletbackup_icloud.accounts import SignInNeeded


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_sessions_live_in_the_user_config_dir(config_home: Path) -> None:
    assert accounts.sessions_root() == config_home / "walletbackup" / "icloud"


def test_prepare_makes_private_directories_and_remember_a_private_record() -> None:
    account = accounts.prepare("  ada@example.com ")
    assert account.apple_id == "ada@example.com"
    assert mode(account.directory) == 0o700
    assert mode(account.directory.parent) == 0o700
    assert accounts.saved_accounts() == []  # no sign-in yet, only a place for one
    accounts.remember(account)
    record = account.directory / accounts.ACCOUNT_FILE
    assert mode(record) == 0o600
    assert json.loads(record.read_text()) == {"apple_id": "ada@example.com"}
    assert accounts.saved_accounts() == [account]


def test_tighten_fixes_files_pyicloud_wrote_with_the_umask() -> None:
    account = accounts.prepare("ada@example.com")
    loose = account.directory / "adaexamplecom.session"
    loose.write_text("{}")
    os.chmod(loose, 0o644)
    os.chmod(account.directory, 0o755)
    accounts.tighten(account.directory)
    assert mode(loose) == 0o600
    assert mode(account.directory) == 0o700


def test_apple_ids_differing_in_case_share_a_directory() -> None:
    assert accounts.directory_for("Ada@Example.com") == accounts.directory_for("ada@example.com")
    assert accounts.directory_for("ada@example.com") != accounts.directory_for("bob@example.com")


@pytest.mark.parametrize("bad", ["", "   ", "ada\n@example.com", "a" * 321])
def test_unusable_apple_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="Apple ID"):
        accounts.normalize_apple_id(bad)


def test_listing_ignores_what_is_not_a_sign_in() -> None:
    root = accounts.sessions_root()
    (root / "junk").mkdir(parents=True)
    (root / "junk" / accounts.ACCOUNT_FILE).write_text("not json")
    (root / "moved").mkdir()
    (root / "moved" / accounts.ACCOUNT_FILE).write_text(json.dumps({"apple_id": "ada@x.com"}))
    (root / "stray.txt").write_text("hello")
    good = accounts.prepare("bob@example.com")
    accounts.remember(good)
    assert accounts.saved_accounts() == [good]


def test_choose_explains_each_way_of_failing() -> None:
    with pytest.raises(SignInNeeded, match="no iCloud sign-in is saved on this machine") as none:
        accounts.choose(None)
    assert "walletbackup icloud login" in none.value.remedy
    for apple_id in ("ada@example.com", "bob@example.com"):
        accounts.remember(accounts.prepare(apple_id))
    with pytest.raises(SignInNeeded, match="several"):
        accounts.choose(None)
    with pytest.raises(SignInNeeded, match=r"carol@example\.com"):
        accounts.choose("carol@example.com")
    assert accounts.choose("BOB@example.com").apple_id == "bob@example.com"


def test_forget_deletes_the_session_files() -> None:
    account = accounts.prepare("ada@example.com")
    accounts.remember(account)
    (account.directory / "adaexamplecom.cookiejar").write_text("#LWP-Cookies-2.0\n")
    accounts.forget(account)
    assert not account.directory.exists()
    assert accounts.saved_accounts() == []


def test_loading_the_plugin_imports_neither_pyicloud_nor_requests() -> None:
    # `walletbackup --help` loads every plugin's entry point: it must stay cheap.
    code = (
        "import sys, walletbackup_icloud.plugin, walletbackup_icloud.cli\n"
        "heavy = sorted(m for m in ('pyicloud', 'requests', 'fido2') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == ""
