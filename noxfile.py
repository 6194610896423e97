"""Every check the project runs. `nox` runs them all; `nox -l` lists them.

Sessions:
  lint            ruff check + ruff format --check
  types           mypy --strict on the core and the plugins
  core            the core's tests with NO plugin installed
  plugin-<name>   one plugin's tests with only the core beside it (one per plugins/*/pyproject.toml)
  all             every test, everything installed together
  docs            the documentation site (Sphinx + MyST), warnings are errors
  bench           the benchmarks in bench/ (not a default session: slow, figures vary by machine)
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True
# Every check; `bench` is left out (minutes of timing, and its figures are not pass/fail).
nox.options.sessions = ["lint", "types", "core", "plugin", "all", "docs"]

# The plugin list comes from the plugins' own pyproject files: no second list to keep in sync.
PLUGINS = {
    path.parent.name: tomllib.loads(path.read_text())["project"]["name"]
    for path in sorted(ROOT.glob("plugins/*/pyproject.toml"))
}
TEST_TOOLS = ["pytest>=8", "hypothesis>=6.100"]


def plugin_requirement(name: str) -> str:
    """``./plugins/<name>``, with its ``test`` extra when it declares one."""
    project = tomllib.loads((ROOT / "plugins" / name / "pyproject.toml").read_text())["project"]
    extras = "[test]" if "test" in project.get("optional-dependencies", {}) else ""
    return f"./plugins/{name}{extras}"


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def types(session: nox.Session) -> None:
    session.install("mypy>=1.13", *TEST_TOOLS, "./core", *map(plugin_requirement, PLUGINS))
    session.run("mypy")


@nox.session
def core(session: nox.Session) -> None:
    """The core alone: no plugin may be needed (and none is installed)."""
    session.install(*TEST_TOOLS, "./core")
    session.run("pytest", "tests/core", *session.posargs)


def install_system_packages(session: nox.Session, names: list[str]) -> None:
    """Debian packages a plugin's tests need (Chromium, SoftHSM2): declared, never assumed.

    A plugin lists them in its pyproject under [tool.walletbackup-dev] system-packages.
    """
    missing = [
        name
        for name in names
        if session.run(
            "dpkg-query",
            "-W",
            "-f=${Status}",
            name,
            external=True,
            silent=True,
            success_codes=[0, 1],
        )
        != "install ok installed"
    ]
    if missing:
        session.run("apt-get", "update", "-qq", external=True)
        session.run(
            "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, external=True
        )


def system_packages(plugin_names: list[str]) -> list[str]:
    return sorted(
        {
            package
            for name in plugin_names
            for package in tomllib.loads((ROOT / "plugins" / name / "pyproject.toml").read_text())
            .get("tool", {})
            .get("walletbackup-dev", {})
            .get("system-packages", [])
        }
    )


@nox.session(name="plugin")
@nox.parametrize("name", list(PLUGINS))
def plugin(session: nox.Session, name: str) -> None:
    """One plugin with only the core beside it."""
    install_system_packages(session, system_packages([name]))
    session.install(*TEST_TOOLS, "./core", plugin_requirement(name))
    # Scenarios that need a second plugin (password first, then this method) run in "all".
    session.run("pytest", f"tests/{name}", "-m", "not cross_plugin", *session.posargs)


@nox.session(name="all")
def all_together(session: nox.Session) -> None:
    """Everything installed together; every test, end to end included."""
    install_system_packages(session, system_packages(list(PLUGINS)))
    session.install(*TEST_TOOLS, "./core", *map(plugin_requirement, PLUGINS))
    session.run("pytest", "tests", *session.posargs)


DOCS_TOOLS = ["sphinx>=8", "myst-parser>=4"]
# Peers the start-up benchmark compares against: CLIs built on entry-point plugins.
BENCH_PEERS = ["keyring>=25", "llm>=0.19"]
# bench_stores.py draws its curves (docs/images/store-curves.png) with matplotlib; bench_service.py
# mints tokens with httpx (tests/fixtures/service_processes.py): bench-only.
BENCH_TOOLS = ["matplotlib>=3.8", "httpx>=0.27"]


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site into docs/_build/html; any Sphinx warning fails the build."""
    # [testing]: autodoc imports walletbackup.testing, which needs pytest.
    session.install(*DOCS_TOOLS, "./core[testing]")
    session.run(
        "sphinx-build",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "docs",
        "docs/_build/html",
        *session.posargs,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark in bench/, with every plugin installed (cold start loads them all).

    The service and PKCS#11 benchmarks start PostgreSQL and SoftHSM2 themselves, from the
    plugins' declared system packages.
    """
    install_system_packages(session, system_packages(list(PLUGINS)))
    session.install(
        "./core", *(f"./plugins/{name}" for name in PLUGINS), *BENCH_PEERS, *BENCH_TOOLS
    )
    for script in sorted(ROOT.glob("bench/bench_*.py")):
        session.run("python", str(script.relative_to(ROOT)))
