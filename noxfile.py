"""Every check the project runs. `nox` runs them all; `nox -l` lists them.

Sessions:
  lint            ruff check + ruff format --check
  types           mypy --strict on the core and the plugins
  core            the core's tests with NO plugin installed
  plugin-<name>   one plugin's tests with only the core beside it (one per plugins/*/pyproject.toml)
  all             every test, everything installed together
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

# The plugin list comes from the plugins' own pyproject files: no second list to keep in sync.
PLUGINS = {
    path.parent.name: tomllib.loads(path.read_text())["project"]["name"]
    for path in sorted(ROOT.glob("plugins/*/pyproject.toml"))
}
TEST_TOOLS = ["pytest>=8", "hypothesis>=6.100"]


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def types(session: nox.Session) -> None:
    session.install("mypy>=1.13", *TEST_TOOLS, "./core", *(f"./plugins/{p}" for p in PLUGINS))
    session.run("mypy")


@nox.session
def core(session: nox.Session) -> None:
    """The core alone: no plugin may be needed (and none is installed)."""
    session.install(*TEST_TOOLS, "./core")
    session.run("pytest", "tests/core", *session.posargs)


@nox.session(name="plugin")
@nox.parametrize("name", list(PLUGINS))
def plugin(session: nox.Session, name: str) -> None:
    """One plugin with only the core beside it."""
    session.install(*TEST_TOOLS, "./core", f"./plugins/{name}")
    session.run("pytest", f"tests/{name}", *session.posargs)


@nox.session(name="all")
def all_together(session: nox.Session) -> None:
    """Everything installed together; every test, end to end included."""
    session.install(*TEST_TOOLS, "./core", *(f"./plugins/{p}" for p in PLUGINS))
    session.run("pytest", "tests", *session.posargs)
