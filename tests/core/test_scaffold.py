"""``walletbackup new-plugin``: what it writes, what it refuses, and that the result works.

The slow tests do what a plugin author does, in a fresh virtual environment: install the core
(from this tree, with [testing]), generate a plugin with the *installed* command (so the
templates must be in the wheel), install the plugin, run its conformance kit, see it in
``walletbackup methods``, back up and recover with it through the CLI, and lint and type-check
the generated code. They need PyPI (or the configured index) for the dependencies.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_support import store_args
from click.testing import CliRunner

from walletbackup import __version__, plugins
from walletbackup.cli import cli
from walletbackup.cli.scaffold import LAYOUT, PluginNames, core_requirement, render
from walletbackup.testing import KmsConformance, MethodConformance, StoreConformance

ROOT = Path(__file__).parents[2]
CORE = ROOT / "core"
NAME = "demo_vault"
LONGEST_NAME = "a_plugin_name_of_32_characters_x"
#: Hyphenated, as distributions usually are: its package is walletbackup_acme_token.
HYPHENATED = "acme-token"
KEY_FILE = re.compile(r"[0-9a-f]{32}-[0-9a-f]{16}\.key")
INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 180


def files_of(directory: Path) -> set[str]:
    return {
        path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file()
    }


def expected_files(name: str) -> set[str]:
    package = PluginNames.of(name).package
    return {path.format(package=package) for path, _ in LAYOUT}


def new_plugin(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["new-plugin", *args])
    return result.exit_code, result.output


# --- what it writes ----------------------------------------------------------------------


def test_it_writes_the_documented_layout(tmp_path: Path) -> None:
    code, output = new_plugin(NAME, "--directory", str(tmp_path / "p"))
    assert code == 0, output
    assert files_of(tmp_path / "p") == {
        "pyproject.toml",
        "README.md",
        "src/walletbackup_demo_vault/__init__.py",
        "src/walletbackup_demo_vault/method.py",
        "src/walletbackup_demo_vault/plugin.py",
        "src/walletbackup_demo_vault/py.typed",
        "tests/test_conformance.py",
    }
    assert f"created walletbackup-{NAME} in {tmp_path / 'p'}" in output


def test_the_default_directory_is_named_after_the_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = new_plugin(NAME)
    assert code == 0, output
    assert files_of(tmp_path / f"walletbackup-{NAME}") == expected_files(NAME)


def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    code, output = new_plugin(NAME, "--directory", str(tmp_path / "a" / "b"))
    assert code == 0, output
    assert files_of(tmp_path / "a" / "b") == expected_files(NAME)


def test_the_pyproject_declares_entry_point_dependency_and_test_extra(tmp_path: Path) -> None:
    new_plugin(NAME, "--directory", str(tmp_path / "p"))
    project = tomllib.loads((tmp_path / "p" / "pyproject.toml").read_text())
    requirement = core_requirement(__version__)
    assert project["project"]["name"] == "walletbackup-demo_vault"
    assert project["project"]["entry-points"]["walletbackup"] == {
        NAME: "walletbackup_demo_vault.plugin"
    }
    assert project["project"]["dependencies"] == [f"walletbackup{requirement}"]
    assert project["project"]["optional-dependencies"]["test"] == [
        f"walletbackup[testing]{requirement}",
        "pytest>=8",
    ]
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "src/walletbackup_demo_vault"
    ]


def test_every_placeholder_is_filled(tmp_path: Path) -> None:
    new_plugin(LONGEST_NAME, "--directory", str(tmp_path / "p"))
    for path in (tmp_path / "p").rglob("*"):
        if path.is_file():
            text = path.read_text()
            # "$ " starts a shell line in the README; anything else after "$" is a leftover.
            assert not re.search(r"\$[^ ]", text), path
    method = (tmp_path / "p" / "src" / f"walletbackup_{LONGEST_NAME}" / "method.py").read_text()
    assert "class APluginNameOf32CharactersXMethod(BackupMethod):" in method
    assert f'name = "{LONGEST_NAME}"' in method


@pytest.mark.parametrize(
    ("name", "class_name"),
    [
        ("demo_vault", "DemoVaultMethod"),
        ("x", "XMethod"),
        ("hsm2", "Hsm2Method"),
        ("acme-token", "AcmeTokenMethod"),
        ("a-b_c", "ABCMethod"),
    ],
)
def test_class_names(name: str, class_name: str) -> None:
    assert PluginNames.of(name).class_name == class_name


def test_a_hyphenated_name_gives_its_distribution_a_module_and_a_method(tmp_path: Path) -> None:
    names = PluginNames.of(HYPHENATED)
    assert (names.distribution, names.package) == (
        "walletbackup-acme-token",
        "walletbackup_acme_token",
    )
    assert names.package.isidentifier()
    assert plugins.METHOD_NAME.fullmatch(names.name)
    code, output = new_plugin(HYPHENATED, "--directory", str(tmp_path / "p"))
    assert code == 0, output
    assert f"created walletbackup-{HYPHENATED} in" in output
    assert "src/walletbackup_acme_token/method.py" in files_of(tmp_path / "p")
    project = tomllib.loads((tmp_path / "p" / "pyproject.toml").read_text())
    assert project["project"]["name"] == "walletbackup-acme-token"
    assert project["project"]["entry-points"]["walletbackup"] == {
        HYPHENATED: "walletbackup_acme_token.plugin"
    }
    method = (tmp_path / "p" / "src" / "walletbackup_acme_token" / "method.py").read_text()
    assert 'name = "acme-token"' in method


@pytest.mark.parametrize(
    ("version", "requirement"),
    [
        ("0.1.0", ">=0.1,<0.2"),
        ("0.12.3", ">=0.12,<0.13"),
        ("1.4.2", ">=1.4,<2"),
        ("2.0", ">=2.0,<3"),
    ],
)
def test_the_core_requirement_is_the_release_series(version: str, requirement: str) -> None:
    assert core_requirement(version) == requirement


# --- the plugin author guide shows what it writes ----------------------------------------

GUIDE = ROOT / "docs" / "plugins.md"
GUIDE_EXAMPLE = "my_vault"


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "src/walletbackup_my_vault/plugin.py",
        "src/walletbackup_my_vault/method.py",
        "tests/test_conformance.py",
    ],
)
def test_the_guide_shows_exactly_what_the_generator_writes(path: str) -> None:
    # A Python listing is marked as not run by the docs' code test: this test covers it.
    marker = r"(?:<!-- not run: generated file -->\n)?"
    listing = re.search(
        rf"\*\*`{re.escape(path)}`\*\*\n\n{marker}```[a-z]+\n(.*?)```", GUIDE.read_text(), re.DOTALL
    )
    assert listing is not None, f"docs/plugins.md has no listing of {path}"
    assert listing[1] == render(PluginNames.of(GUIDE_EXAMPLE))[path]


def test_the_guide_explains_every_check_of_the_kits() -> None:
    explained = set(re.findall(r"^\| `(test_\w+)` \|", GUIDE.read_text(), re.MULTILINE))
    kits = (MethodConformance, StoreConformance, KmsConformance)
    checks = {name for kit in kits for name in vars(kit) if name.startswith("test_")}
    assert explained == checks


# --- what it refuses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1vault",
        "Vault",
        "my vault",
        "vault!",
        "é",
        "_vault",
        # A distribution name ends in a letter or digit.
        "vault-",
        "vault_",
        "a" * 33,
        "../x",
    ],
)
def test_an_invalid_name_is_a_usage_error(tmp_path: Path, name: str) -> None:
    code, output = new_plugin(name, "--directory", str(tmp_path / "p"))
    assert code == 2
    assert "Invalid value for NAME" in output
    assert (
        "lowercase letter, then up to 31 lowercase letters, digits, hyphens or underscores, "
        "ending in a letter or digit" in " ".join(output.split())
    )
    assert not (tmp_path / "p").exists()


def test_a_reserved_name_is_a_usage_error(tmp_path: Path) -> None:
    code, output = new_plugin("kms", "--directory", str(tmp_path / "p"))
    assert code == 2
    assert "'kms' is reserved" in output
    assert not (tmp_path / "p").exists()


def test_an_existing_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pyproject.toml").write_text("mine")
    code, output = new_plugin(NAME, "--directory", str(tmp_path / "p"))
    assert code == 2
    assert "already exists" in output
    assert files_of(tmp_path / "p") == {"pyproject.toml"}
    assert (tmp_path / "p" / "pyproject.toml").read_text() == "mine"


def test_an_empty_existing_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    code, output = new_plugin(NAME, "--directory", str(tmp_path / "p"))
    assert code == 2
    assert "already exists" in output
    assert files_of(tmp_path / "p") == set()


def test_an_existing_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "p").write_text("mine")
    code, output = new_plugin(NAME, "--directory", str(tmp_path / "p"))
    assert code == 2
    assert "already exists" in output
    assert (tmp_path / "p").read_text() == "mine"


# --- the result works: a fresh virtual environment, as a plugin author has --------------------


@dataclass(frozen=True)
class Sandbox:
    """A fresh venv with the core and a generated plugin installed, and a private HOME."""

    root: Path
    venv: Path
    plugin: Path
    home: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def env(self) -> dict[str, str]:
        """What the venv's commands run with: its bin first; no user config, data or plugins."""
        env = _clean_environment()
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["HOME"] = str(self.home)
        return env

    def run(
        self, *args: str, cwd: Path, timeout: float = RUN_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def walletbackup(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return self.run("walletbackup", *args, cwd=cwd)


def _clean_environment() -> dict[str, str]:
    """This process's environment without what would reach into another venv or config."""
    dropped = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME")
    return {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith("WALLETBACKUP_")
    }


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result


def _pip_install(venv: Path, *requirements: str) -> None:
    # pip keeps the real environment: its cache and index settings live there.
    _ok(
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements],
            env=_clean_environment(),
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    root = tmp_path_factory.mktemp("scaffold")
    venv, home = root / "venv", root / "home"
    home.mkdir()
    _ok(
        subprocess.run(
            [sys.executable, "-m", "venv", str(venv)],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    )
    # Not editable: the wheel is what users get, templates included.
    _pip_install(venv, f"{CORE}[testing]", "ruff>=0.8", "mypy>=1.13")
    box = Sandbox(root, venv, root / f"walletbackup-{NAME}", home)
    _ok(box.walletbackup("new-plugin", NAME, cwd=root))
    _pip_install(venv, f"{box.plugin}[test]")
    return box


def _kit_checks() -> set[str]:
    """The kit's checks that apply to a remote-material method with an entry point (the
    template offers no presence check)."""
    return {
        name
        for name in vars(MethodConformance)
        if name.startswith("test_")
        and name
        not in ("test_wrong_unlock_options_do_not_unlock", "test_presence_follows_the_material")
    }


@pytest.mark.slow
def test_the_generated_plugin_passes_its_conformance_kit(sandbox: Sandbox) -> None:
    result = sandbox.run(
        "python", "-m", "pytest", "-v", "-p", "no:cacheprovider", cwd=sandbox.plugin
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passed = set(re.findall(r"::(test_\w+)(?:\[[^\]]*\])? PASSED", result.stdout))
    assert passed == _kit_checks()
    assert not re.search(r"SKIPPED|XFAIL|XPASS|ERROR|FAILED", result.stdout)


@pytest.mark.slow
def test_walletbackup_methods_lists_the_new_method_as_available(sandbox: Sandbox) -> None:
    listing = json.loads(_ok(sandbox.walletbackup("methods", "--json", cwd=sandbox.root)).stdout)
    assert listing["broken_plugins"] == []
    [method] = [m for m in listing["methods"] if m["name"] == NAME]
    assert re.sub(r"[-_.]+", "-", method["distribution"]) == "walletbackup-demo-vault"
    assert (method["available"], method["reason"], method["remedy"]) == (True, "", "")
    assert method["options"] == [
        {
            "name": "directory",
            "help": "Directory that keeps the key files (it must exist).",
            "secret": False,
            "confirm": False,
            "required": True,
            "for_unlock": True,
        }
    ]


def _backed_up(sandbox: Sandbox, work: Path, name: str = NAME) -> Mapping[str, Path]:
    """Back up a wallet with the new method alone; the paths of its shares, keys and URLs."""
    work.mkdir()
    keys = work / "keys"
    keys.mkdir()
    shares = {"client": work / "client.share", "custodian": work / "custodian.share"}
    for path in shares.values():
        path.write_bytes(os.urandom(32))
        path.chmod(0o600)
    result = _ok(
        sandbox.walletbackup(
            *store_args(work),
            "backup",
            "wallet-1",
            "--method",
            name,
            "--option",
            f"directory={keys}",
            "--client-share-file",
            str(shares["client"]),
            "--custodian-share-file",
            str(shares["custodian"]),
            "--json",
            cwd=work,
        )
    )
    backup = json.loads(result.stdout)
    assert (backup["status"], backup["methods"]) == ("stored", [name])
    return {"keys": keys, **shares}


@pytest.mark.slow
@pytest.mark.parametrize("which", ["plugin", "hyphenated"])
def test_backup_and_recover_with_the_new_method_through_the_cli(
    sandbox: Sandbox, hyphenated: Path, tmp_path: Path, which: str
) -> None:
    work = tmp_path / "work"
    paths = _backed_up(sandbox, work, NAME if which == "plugin" else HYPHENATED)
    assert [KEY_FILE.fullmatch(p.name) is not None for p in paths["keys"].iterdir()] == [True]
    _ok(
        sandbox.walletbackup(
            *store_args(work),
            "recover",
            "wallet-1",
            "--option",
            f"directory={paths['keys']}",
            "--client-out",
            str(work / "client.out"),
            "--custodian-out",
            str(work / "custodian.out"),
            cwd=work,
        )
    )
    assert (work / "client.out").read_bytes() == paths["client"].read_bytes()
    assert (work / "custodian.out").read_bytes() == paths["custodian"].read_bytes()


@pytest.mark.slow
def test_recovery_without_the_key_file_exits_4_and_writes_nothing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    paths = _backed_up(sandbox, work)
    for key in paths["keys"].iterdir():
        key.unlink()
    result = sandbox.walletbackup(
        *store_args(work),
        "recover",
        "wallet-1",
        "--option",
        f"directory={paths['keys']}",
        "--client-out",
        str(work / "client.out"),
        "--custodian-out",
        str(work / "custodian.out"),
        cwd=work,
    )
    assert result.returncode == 4, result.stderr
    assert "is not in" in result.stderr
    assert not (work / "client.out").exists()
    assert not (work / "custodian.out").exists()


@pytest.mark.slow
def test_the_readme_commands_work_as_written(sandbox: Sandbox, tmp_path: Path) -> None:
    readme = (sandbox.plugin / "README.md").read_text()
    block = re.search(r"## Try it\n\n```console\n(.*?)```", readme, re.DOTALL)
    assert block is not None
    commands = block[1].replace("\\\n", "").splitlines()
    assert all(line.startswith("$ ") for line in commands), commands
    # The fixture installed the plugin already (not editable): run everything after that.
    script = [line[2:] for line in commands if not line.startswith("$ python -m pip install")]
    assert len(script) == len(commands) - 1
    copy = tmp_path / "plugin"
    shutil.copytree(sandbox.plugin, copy)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(script)],
        cwd=copy,
        env=sandbox.env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{NAME}  (walletbackup-" in result.stdout
    assert "recovered wallet wallet-1" in result.stdout


@pytest.fixture(scope="module")
def longest(sandbox: Sandbox) -> Path:
    """A second plugin, with the longest name: line lengths must hold for every name."""
    _ok(sandbox.walletbackup("new-plugin", LONGEST_NAME, cwd=sandbox.root))
    return sandbox.root / f"walletbackup-{LONGEST_NAME}"


@pytest.fixture(scope="module")
def hyphenated(sandbox: Sandbox) -> Path:
    """A third plugin, named as distributions usually are (acme-token), installed too."""
    _ok(sandbox.walletbackup("new-plugin", HYPHENATED, cwd=sandbox.root))
    plugin = sandbox.root / f"walletbackup-{HYPHENATED}"
    _pip_install(sandbox.venv, f"{plugin}[test]")
    return plugin


@pytest.mark.slow
def test_a_hyphenated_plugin_passes_its_kit_and_is_listed(
    sandbox: Sandbox, hyphenated: Path
) -> None:
    result = sandbox.run("python", "-m", "pytest", "-v", "-p", "no:cacheprovider", cwd=hyphenated)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = set(re.findall(r"::(test_\w+)(?:\[[^\]]*\])? PASSED", result.stdout))
    assert passed == _kit_checks()
    listing = json.loads(_ok(sandbox.walletbackup("methods", "--json", cwd=sandbox.root)).stdout)
    assert listing["broken_plugins"] == []
    [method] = [m for m in listing["methods"] if m["name"] == HYPHENATED]
    assert re.sub(r"[-_.]+", "-", method["distribution"]) == "walletbackup-acme-token"
    assert method["available"] is True


def _generated(sandbox: Sandbox, longest: Path, hyphenated: Path, which: str) -> Path:
    return {"plugin": sandbox.plugin, "longest": longest, "hyphenated": hyphenated}[which]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["plugin", "longest", "hyphenated"])
def test_the_generated_code_is_ruff_clean_under_the_project_config(
    sandbox: Sandbox, longest: Path, hyphenated: Path, which: str
) -> None:
    directory = _generated(sandbox, longest, hyphenated, which)
    config = str(ROOT / "pyproject.toml")
    _ok(sandbox.run("ruff", "check", "--no-cache", "--config", config, ".", cwd=directory))
    _ok(
        sandbox.run(
            "ruff", "format", "--check", "--no-cache", "--config", config, ".", cwd=directory
        )
    )


@pytest.mark.slow
@pytest.mark.parametrize("which", ["plugin", "longest", "hyphenated"])
def test_the_generated_code_is_mypy_strict_clean(
    sandbox: Sandbox, longest: Path, hyphenated: Path, tmp_path: Path, which: str
) -> None:
    directory = _generated(sandbox, longest, hyphenated, which)
    result = subprocess.run(
        [
            str(sandbox.bin / "mypy"),
            "--strict",
            "--cache-dir",
            str(tmp_path / "mypy"),
            "src",
            "tests",
        ],
        cwd=directory,
        env=sandbox.env() | {"MYPYPATH": str(directory / "src")},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
