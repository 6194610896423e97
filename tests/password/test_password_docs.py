"""The pages whose examples back up with a password run as written (tests/core/test_docs_code.py).

They need the password method and nothing else. docs/plugins.md's own method, ``my_vault``, is
the plugin `walletbackup new-plugin my_vault` writes, installed here from the generator's output
(tests/core/test_scaffold.py checks the page shows exactly that output).
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from doc_blocks import run_page

from walletbackup import Availability, WalletBackup, combine_shares, plugins, split_secret
from walletbackup.cli.scaffold import PluginNames, render

PRIVATE_KEY = bytes(range(32))
CLIENT, CUSTODIAN = split_secret(PRIVATE_KEY)
PASSWORD = "correct horse battery staple 42"


def test_readme(tmp_path: Path) -> None:
    namespace = run_page("README.md", tmp_path)
    # The page asserts the recovery itself; this checks it wrote where it says.
    assert namespace["recovered"].wallet_id == "wallet-1"
    assert (tmp_path / "backups.db").is_file()
    assert (tmp_path / "custodian.key").is_file()


def test_quickstart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = run_page("docs/quickstart.md", tmp_path)
    assert "the backup could not be opened" in capsys.readouterr().out
    recovered = namespace["recovered"]  # the self-managed wallet's
    assert (
        combine_shares(recovered.client_share, recovered.custodian_share)
        == namespace["private_key"]
    )


def test_password_method_page(tmp_path: Path) -> None:
    # "With a WalletBackup named wb and the wallet's two shares".
    given = {"wb": WalletBackup(), "client_share": CLIENT, "custodian_share": CUSTODIAN}
    run_page("docs/methods/password.md", tmp_path, given)
    with WalletBackup() as wb:
        recovered = wb.recover_wallet("wallet-1", method="password", password=PASSWORD)
    assert (recovered.client_share, recovered.custodian_share) == (CLIENT, CUSTODIAN)


@pytest.fixture
def my_vault(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The generated my_vault plugin, installed: its source and a dist-info on ``sys.path``.

    The entry point is the one the generated pyproject.toml declares.
    """
    names = PluginNames.of("my_vault")
    plugin = tmp_path_factory.mktemp("my_vault")
    for path, text in render(names).items():
        (plugin / path).parent.mkdir(parents=True, exist_ok=True)
        (plugin / path).write_text(text, encoding="utf-8")
    project = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
    dist_info = plugin / "src" / f"{names.package}-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    entry_points = project["entry-points"]["walletbackup"]
    (dist_info / "entry_points.txt").write_text(
        "[walletbackup]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    )
    monkeypatch.syspath_prepend(str(plugin / "src"))
    plugins.reset_plugins()
    yield
    plugins.reset_plugins()
    for module in [m for m in sys.modules if m.split(".")[0] == names.package]:
        del sys.modules[module]


@pytest.mark.usefixtures("my_vault")
def test_plugin_author_guide(tmp_path: Path) -> None:
    given = {
        # The method members the page shows name walletbackup's classes as a method module does.
        "Availability": Availability,
        # "client_share, custodian_share and password as in the quick start".
        "client_share": CLIENT,
        "custodian_share": CUSTODIAN,
        "password": PASSWORD,
    }
    namespace = run_page("docs/plugins.md", tmp_path, given)
    recovered = namespace["recovered"]
    assert (recovered.client_share, recovered.custodian_share) == (CLIENT, CUSTODIAN)
    assert len(list((tmp_path / "keys").iterdir())) == 1  # the method's key file
