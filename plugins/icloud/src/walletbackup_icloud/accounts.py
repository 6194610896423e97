"""Saved iCloud sign-ins: one private directory per Apple ID, where pyicloud keeps its cookies.

Layout: ``<user config dir>/walletbackup/icloud/<hash of the Apple ID>/`` (mode 0700) holding
``account.json`` (the Apple ID, so sign-ins can be listed) and pyicloud's ``.cookiejar`` and
``.session`` files (mode 0600). The cookies are a credential for the whole iCloud account:
nothing here ever logs them, and :func:`tighten` runs after every pyicloud call that may write.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from walletbackup import files
from walletbackup.errors import MethodUnavailable

ACCOUNT_FILE = "account.json"
LOGIN_COMMAND = "walletbackup icloud login"
_MAX_APPLE_ID = 320  # the longest e-mail address RFC 5321 allows
_CHOOSE_WITH = "the option apple_id (on the walletbackup command line: --option apple_id=EMAIL)"

#: ``(apple_id, password, cookie_directory) -> PyiCloudService``, built offline: callers bound its
#: requests in time, then call ``authenticate()`` (a sign-in with a password, or a check of the
#: saved session without one). Tests replace it to point pyicloud at a loopback fake.
ServiceFactory = Callable[[str, str | None, str], Any]


def _pyicloud_service(apple_id: str, password: str | None, cookie_directory: str) -> Any:
    from pyicloud import PyiCloudService  # type: ignore[import-untyped]  # noqa: PLC0415

    # authenticate=False: no request yet, and no lookup of a password in the system keyring
    # (this plugin never keeps the Apple ID password anywhere).
    return PyiCloudService(
        apple_id, password, cookie_directory=cookie_directory, authenticate=False
    )


service_factory: ServiceFactory = _pyicloud_service


class SignInNeeded(MethodUnavailable):
    """No usable iCloud sign-in: ``reason`` says why, ``remedy`` what to run."""

    def __init__(self, reason: str, remedy: str) -> None:
        super().__init__(f"{reason}: {remedy}")
        self.reason = reason
        self.remedy = remedy


@dataclass(frozen=True)
class SavedAccount:
    """An Apple ID with a saved sign-in, and the directory holding its session."""

    apple_id: str
    directory: Path


def sessions_root() -> Path:
    """Where saved sign-ins live (read on each call, so the environment can move it)."""
    return Path(platformdirs.user_config_dir("walletbackup")) / "icloud"


def normalize_apple_id(apple_id: str) -> str:
    """The Apple ID as typed, without surrounding blanks; ValueError when it cannot be one."""
    text = apple_id.strip()
    if not text or len(text) > _MAX_APPLE_ID or not text.isprintable():
        raise ValueError("an Apple ID is an e-mail address or phone number of printable text")
    return text


def directory_for(apple_id: str) -> Path:
    # A hash, not the address itself: no path tricks, and Apple IDs differing only in case
    # (Apple treats them as one) share a directory.
    digest = hashlib.sha256(normalize_apple_id(apple_id).casefold().encode()).hexdigest()
    return sessions_root() / digest[:24]


def prepare(apple_id: str) -> SavedAccount:
    """Create (or reuse) the private directory for ``apple_id``'s session files."""
    apple_id = normalize_apple_id(apple_id)
    directory = directory_for(apple_id)
    # Both levels are walletbackup's own: made 0700 even where they already existed.
    files.private_dir(directory.parent, tighten=True)
    files.private_dir(directory, tighten=True)
    return SavedAccount(apple_id, directory)


def is_saved(account: SavedAccount) -> bool:
    return (account.directory / ACCOUNT_FILE).is_file()


def remember(account: SavedAccount) -> None:
    """Record the Apple ID beside its session: from now on it is a saved sign-in."""
    record = json.dumps({"apple_id": account.apple_id}).encode("utf-8")
    files.write_private(account.directory / ACCOUNT_FILE, record)
    tighten(account.directory)


def tighten(directory: Path) -> None:
    """Make the directory 0700 and every file in it 0600 (pyicloud writes with the umask)."""
    if not directory.is_dir():
        return
    os.chmod(directory, 0o700)
    for entry in directory.iterdir():
        mode = entry.lstat().st_mode
        if stat.S_ISREG(mode) and stat.S_IMODE(mode) != 0o600:
            os.chmod(entry, 0o600)


def saved_accounts() -> list[SavedAccount]:
    """Every Apple ID with a saved sign-in on this machine, sorted."""
    root = sessions_root()
    if not root.is_dir():
        return []
    found = []
    for directory in root.iterdir():
        try:
            data = json.loads((directory / ACCOUNT_FILE).read_text(encoding="utf-8"))
            apple_id = normalize_apple_id(data["apple_id"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # not one of ours, or half-written: not a usable sign-in
        if directory_for(apple_id) == directory:
            found.append(SavedAccount(apple_id, directory))
    return sorted(found, key=lambda account: account.apple_id.casefold())


def choose(apple_id: str | None, *, choose_with: str = _CHOOSE_WITH) -> SavedAccount:
    """The saved sign-in for ``apple_id``, or the only one saved; :class:`SignInNeeded` if none.

    ``choose_with`` says how the caller names an Apple ID, for when several are saved.
    """
    saved = saved_accounts()
    if apple_id is not None:
        wanted = directory_for(apple_id)
        for account in saved:
            if account.directory == wanted:
                return account
        raise SignInNeeded(
            f"no iCloud sign-in is saved for {normalize_apple_id(apple_id)}",
            f"run `{LOGIN_COMMAND}` and sign in with that Apple ID",
        )
    if not saved:
        raise SignInNeeded(
            "no iCloud sign-in is saved on this machine",
            f"run `{LOGIN_COMMAND}` (from Python, service=<a signed-in PyiCloudService> also "
            "works)",
        )
    if len(saved) > 1:
        names = ", ".join(account.apple_id for account in saved)
        raise SignInNeeded(
            f"several iCloud sign-ins are saved ({names})",
            f"choose one with {choose_with}",
        )
    return saved[0]


def forget(account: SavedAccount) -> None:
    """Delete the saved session of ``account`` (cookies included)."""
    shutil.rmtree(account.directory, ignore_errors=False)


__all__ = [
    "ACCOUNT_FILE",
    "LOGIN_COMMAND",
    "SavedAccount",
    "ServiceFactory",
    "SignInNeeded",
    "choose",
    "directory_for",
    "forget",
    "is_saved",
    "normalize_apple_id",
    "prepare",
    "remember",
    "saved_accounts",
    "service_factory",
    "sessions_root",
    "tighten",
]
