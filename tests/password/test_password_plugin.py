"""The plugin module: its hook registers PasswordMethod, through pluggy and its entry point."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pluggy

from walletbackup import hookspecs
from walletbackup_password import PasswordMethod, plugin


def test_the_hook_registers_the_method_class() -> None:
    registered: list[type[Any]] = []
    plugin.register_backup_methods(registered.append)
    assert registered == [PasswordMethod]


def test_pluggy_accepts_the_module_against_the_core_hookspecs() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin)
    manager.check_pending()
    registered: list[type[Any]] = []
    manager.hook.register_backup_methods(register=registered.append)
    assert registered == [PasswordMethod]


def test_the_entry_point_names_the_plugin_module() -> None:
    (point,) = [ep for ep in entry_points(group="walletbackup") if ep.name == "password"]
    assert point.value == "walletbackup_password.plugin"
    assert point.load() is plugin
