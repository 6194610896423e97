"""The plugin module: hooks, entry point, and fido2 kept out of start-up."""

from __future__ import annotations

import glob
import subprocess
import sys
from importlib.metadata import entry_points
from typing import Any

import click
import pluggy
import pytest

from walletbackup import hookspecs
from walletbackup_passkey import PasskeyMethod, plugin


def test_the_hook_registers_the_method_class() -> None:
    registered: list[type[Any]] = []
    plugin.register_backup_methods(registered.append)
    assert registered == [PasskeyMethod]
    assert PasskeyMethod.name == "passkey"
    assert PasskeyMethod.multiple  # a phone and a security key: one stanza each


def test_pluggy_accepts_the_module_against_the_core_hookspecs() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin)
    manager.check_pending()
    group = click.Group()
    manager.hook.register_commands(cli=group)
    passkey = group.commands["passkey"]
    assert isinstance(passkey, click.Group)
    assert sorted(passkey.commands) == ["devices", "set-pin"]


def test_the_entry_point_names_the_plugin_module() -> None:
    (point,) = [ep for ep in entry_points(group="walletbackup") if ep.name == "passkey"]
    assert point.value == "walletbackup_passkey.plugin"
    assert point.load() is plugin


def test_loading_the_plugin_does_not_import_fido2() -> None:
    # Start-up of `walletbackup --help` loads every plugin: fido2 waits until a ceremony runs.
    code = (
        "import sys, walletbackup_passkey, walletbackup_passkey.plugin as p; "
        "p.register_backup_methods(lambda m: m()); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fido2', 'click')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("options", "looks_for_a_key"),
    [
        ("transport='browser', open_browser=print", False),
        ("transport='security-key'", True),
        ("", True),
    ],
    ids=["browser", "security-key", "auto"],
)
def test_availability_imports_fido2_only_when_a_key_may_be_connected(
    options: str, looks_for_a_key: bool
) -> None:
    # `walletbackup methods` asks for availability: on Linux, no /dev/hidraw* node means no
    # USB key fido2 could find, so it is not imported to look.
    code = (
        "import sys; from walletbackup_passkey import PasskeyMethod; "
        f"PasskeyMethod({options}).availability(); print('fido2' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    nodes = sys.platform == "linux" and bool(glob.glob("/dev/hidraw*"))
    assert result.stdout.strip() == str(looks_for_a_key and (nodes or sys.platform != "linux"))
