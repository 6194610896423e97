"""Plugin loading against real installed distributions (dist-info directories on sys.path)."""

from __future__ import annotations

import importlib.metadata
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest

from walletbackup import plugins
from walletbackup.errors import MethodUnavailable, PluginError
from walletbackup.kms import LocalKms

FAKES = Path(__file__).parents[1] / "fixtures" / "plugins"

Install = Callable[..., None]


def entry_point_names(*fakes: str) -> list[str]:
    return [
        entry_point.name
        for dist in importlib.metadata.distributions(path=[str(FAKES / fake) for fake in fakes])
        for entry_point in dist.entry_points
    ]


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Put fake distributions on sys.path; by default enable exactly their entry points."""

    def install_(*fakes: str, enable: str | None = "theirs") -> None:
        for fake in fakes:
            monkeypatch.syspath_prepend(str(FAKES / fake))
        if enable is None:
            monkeypatch.delenv(plugins.ENV_VAR, raising=False)
        else:
            names = entry_point_names(*fakes) if enable == "theirs" else [enable]
            monkeypatch.setenv(plugins.ENV_VAR, ",".join(names))
        plugins.reset_plugins()

    yield install_
    plugins.reset_plugins()
    for module in [name for name in sys.modules if name.startswith("wbfake_")]:
        del sys.modules[module]


def broken_named(name: str) -> plugins.BrokenPlugin:
    matches = [broken for broken in plugins.broken_plugins() if broken.name == name]
    assert len(matches) == 1, plugins.broken_plugins()
    return matches[0]


def assert_good_plugin_works() -> None:
    method = plugins.get_method("fakegood")
    assert method.__module__ == "wbfake_good"
    assert plugins.method_registry()["fakegood"].distribution == "walletbackup-fakegood"


def test_good_plugin_registers_its_method(install: Install) -> None:
    install("good")
    registered = plugins.method_registry()["fakegood"]
    assert registered.value is sys.modules["wbfake_good"].FakeGood
    assert (registered.name, registered.plugin) == ("fakegood", "fakegood")
    assert (registered.distribution, registered.version) == ("walletbackup-fakegood", "1.0")
    assert plugins.get_method("fakegood") is registered.value


def test_good_plugin_is_listed_with_its_hooks_and_methods(install: Install) -> None:
    install("good")
    info = next(p for p in plugins.installed_plugins() if p.name == "fakegood")
    assert info == plugins.PluginInfo(
        name="fakegood",
        distribution="walletbackup-fakegood",
        version="1.0",
        hooks=("audit_event", "register_backup_methods", "register_commands"),
        methods=("fakegood",),
        stores=(),
        kms=(),
    )
    assert plugins.broken_plugins() == []


def test_import_error_is_reported_and_others_still_load(
    install: Install, caplog: pytest.LogCaptureFixture
) -> None:
    install("good", "importerror")
    broken = broken_named("fakeimporterr")
    assert (broken.distribution, broken.version) == ("walletbackup-fakeimporterr", "0.1")
    assert broken.error.startswith("ModuleNotFoundError: ")
    assert "wbfake_no_such_dependency" in broken.error
    assert any(
        record.name == "walletbackup.plugins"
        and record.levelno == logging.WARNING
        and "fakeimporterr" in record.getMessage()
        for record in caplog.records
    )
    assert_good_plugin_works()


def test_hook_that_raises_marks_its_plugin_broken(install: Install) -> None:
    install("good", "hookraises")
    assert broken_named("fakeraises").error == "RuntimeError: boom from fakeraises"
    assert plugins.get_plugin_manager().get_plugin("fakeraises") is None
    assert "fakeraises" not in {info.name for info in plugins.installed_plugins()}
    assert_good_plugin_works()


def test_misspelt_hook_is_caught_by_check_pending(install: Install) -> None:
    install("good", "misspelt")
    error = broken_named("fakemisspelt").error
    assert "'register_backup_method'" in error
    assert "did you mean 'register_backup_methods'?" in error
    # Its correctly spelt hook does not count either: the whole plugin is out.
    assert "fakemisspelt" not in plugins.method_registry()
    assert plugins.get_plugin_manager().get_plugin("fakemisspelt") is None
    assert_good_plugin_works()


def test_method_name_claimed_by_two_distributions_names_both(install: Install) -> None:
    install("good", "dup_a", "dup_b")
    with pytest.raises(PluginError) as raised:
        plugins.get_method("fakedup")
    message = str(raised.value)
    assert "backup method 'fakedup' is registered by both" in message
    assert "walletbackup-fakedup-a 1.0" in message
    assert "walletbackup-fakedup-b 2.0" in message
    assert message.endswith("uninstall one")
    assert "fakedup" not in plugins.method_registry()


def test_duplicate_name_is_listed_as_broken(install: Install) -> None:
    install("dup_a", "dup_b")
    [broken] = plugins.broken_plugins()
    assert "walletbackup-fakedup-a 1.0" in broken.error
    assert "walletbackup-fakedup-b 2.0" in broken.error


def test_duplicate_name_leaves_other_names_working(install: Install) -> None:
    install("good", "dup_a", "dup_b")
    assert plugins.get_method("fakeunique").__module__ == "wbfake_dup_b"
    assert_good_plugin_works()


@pytest.mark.parametrize(
    ("fake", "name", "error"),
    [
        (
            "badtype",
            "fakebadtype",
            "got <class 'wbfake_badtype.NotAMethod'>, which is not a BackupMethod subclass",
        ),
        ("badname", "fakebadname", "got BadName with name 'Bad Name'; it must match"),
        ("reserved", "fakereserved", "got Kms: name 'kms' is reserved"),
        (
            "badstore",
            "fakebadstore",
            "register_stores got <class "
            "'walletbackup.kms.local.LocalKms'>, which is not a Store subclass",
        ),
    ],
)
def test_invalid_registered_item_marks_its_plugin_broken(
    install: Install, fake: str, name: str, error: str
) -> None:
    install("good", fake)
    assert error in broken_named(name).error
    assert name not in {info.name for info in plugins.installed_plugins()}
    assert_good_plugin_works()


def test_entry_point_name_used_twice_breaks_the_second(install: Install) -> None:
    install("good", "samename")
    [broken] = plugins.broken_plugins()
    loaded = next(p for p in plugins.installed_plugins() if p.name == "fakegood")
    assert broken.name == "fakegood"
    assert {broken.distribution, loaded.distribution} == {
        "walletbackup-fakegood",
        "walletbackup-fakesamename",
    }
    assert f"already used by {loaded.distribution} {loaded.version}" in broken.error


def test_env_var_unset_loads_every_plugin(install: Install) -> None:
    install("good", "importerror", enable=None)
    assert_good_plugin_works()
    assert broken_named("fakeimporterr").distribution == "walletbackup-fakeimporterr"


def test_env_var_names_the_plugins_to_load(install: Install) -> None:
    install("good", "importerror", enable="fakegood")
    assert_good_plugin_works()
    assert "fakeimporterr" not in {broken.name for broken in plugins.broken_plugins()}
    assert "wbfake_importerr" not in sys.modules


def test_empty_env_var_loads_no_plugin(install: Install) -> None:
    install("good", "importerror", enable="")
    loaded = {info.distribution for info in plugins.installed_plugins()}
    assert loaded == {"walletbackup"}
    assert plugins.broken_plugins() == []
    assert "wbfake_good" not in sys.modules


def test_method_left_out_by_env_var_says_how_to_enable_it(install: Install) -> None:
    install("good", enable="")
    with pytest.raises(MethodUnavailable, match=r"WALLETBACKUP_PLUGINS=.*add 'fakegood' to it"):
        plugins.get_method("fakegood")


def test_unknown_method_names_the_distribution_to_install(install: Install) -> None:
    install("good")
    with pytest.raises(MethodUnavailable) as raised:
        plugins.get_method("carrierpigeon")
    assert str(raised.value) == (
        "no backup method named 'carrierpigeon' is installed; install it with: "
        "pip install walletbackup-carrierpigeon"
    )


def test_invalid_method_name_is_not_suggested_for_pip(install: Install) -> None:
    install("good")
    with pytest.raises(MethodUnavailable, match="is not a valid backup method name"):
        plugins.get_method("../gdrive")


def test_method_of_broken_plugin_is_a_plugin_error(install: Install) -> None:
    install("hookraises")
    with pytest.raises(PluginError, match=r"plugin 'fakeraises' .* is broken: RuntimeError"):
        plugins.get_method("fakeraises")


def test_audit_sink_exception_is_logged_not_raised(
    install: Install, caplog: pytest.LogCaptureFixture
) -> None:
    install("good", "auditboom")
    events = sys.modules[plugins.get_method("fakegood").__module__].EVENTS
    events.clear()
    event = {"type": "backup", "wallet_id": "w1", "outcome": "ok"}
    plugins.emit_audit(event)
    assert events == [{"type": "changed by fakegood", "wallet_id": "w1", "outcome": "ok"}]
    assert event == {"type": "backup", "wallet_id": "w1", "outcome": "ok"}
    assert any("audit sink down" in record.getMessage() for record in caplog.records)


def test_command_hook_exception_is_logged_not_raised(
    install: Install, caplog: pytest.LogCaptureFixture
) -> None:
    install("good", "auditboom")
    cli = click.Group("walletbackup")
    plugins.register_commands(cli)
    assert list(cli.commands) == ["fakegood"]
    assert any("no commands today" in record.getMessage() for record in caplog.records)


def test_core_stores_and_local_kms_belong_to_walletbackup(install: Install) -> None:
    install(enable="")
    stores = plugins.store_registry()
    assert {"sqlite", "file", "memory"} <= set(stores)
    assert {stores[scheme].distribution for scheme in ("sqlite", "file", "memory")} == {
        "walletbackup"
    }
    local = plugins.kms_registry()["local"]
    assert (local.value, local.distribution) == (LocalKms, "walletbackup")
    assert plugins.get_kms("local") is LocalKms
    assert plugins.installed_plugins()[0].name == "walletbackup"


def test_unknown_store_scheme_lists_the_installed_ones(install: Install) -> None:
    install(enable="")
    with pytest.raises(MethodUnavailable, match=r"no store for 'postgresql' URLs .*sqlite"):
        plugins.get_store("postgresql")


def test_importing_plugins_imports_neither_click_nor_any_plugin() -> None:
    code = (
        "import sys, walletbackup.plugins\n"
        "loaded = [m for m in ('click', 'walletbackup_password', 'walletbackup.core_plugin')"
        " if m in sys.modules]\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_plugin_asking_for_registries_while_loading_is_broken_not_deadlocked(
    install: Install,
) -> None:
    install("good", "reentrant")
    assert broken_named("fakereentrant").error == (
        "a plugin asked for the plugin registries while plugins were loading"
    )
    assert_good_plugin_works()


def test_stores_of_the_core_and_of_plugins_share_one_registry(install: Install) -> None:
    """One path and one conflict rule: a plugin's scheme opens; one claiming sqlite conflicts."""
    from walletbackup.errors import StorageError
    from walletbackup.stores import open_store

    install("storeclaim")
    assert type(open_store("custom:x")).__name__ == "CustomStore"
    with pytest.raises(PluginError, match=r"sqlite.*walletbackup.*walletbackup-fakestoreclaim"):
        open_store("sqlite:x.db")
    with pytest.raises(StorageError, match="known schemes: custom, file, memory"):
        open_store("other:x")
