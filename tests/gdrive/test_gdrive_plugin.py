"""The plugin module: its hooks register GDriveMethod and the ``gdrive`` command group."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import click
import pluggy

from walletbackup import hookspecs
from walletbackup_gdrive import GDriveMethod, plugin


def test_pluggy_accepts_the_module_against_the_core_hookspecs() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin)
    manager.check_pending()
    registered: list[type[Any]] = []
    manager.hook.register_backup_methods(register=registered.append)
    assert registered == [GDriveMethod]
    group = click.Group()
    manager.hook.register_commands(cli=group)
    assert sorted(group.commands["gdrive"].commands) == ["login", "logout", "status"]


def test_the_entry_point_names_the_plugin_module() -> None:
    (point,) = [ep for ep in entry_points(group="walletbackup") if ep.name == "gdrive"]
    assert point.value == "walletbackup_gdrive.plugin"
    assert point.load() is plugin
