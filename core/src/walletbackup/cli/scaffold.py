"""``walletbackup new-plugin``: a new backup method plugin that works and passes the kit.

The files come from the templates in ``walletbackup/templates/plugin`` (``string.Template``;
``$$`` is a literal dollar). An author starts from a green conformance kit and changes one piece
at a time; docs/plugins.md walks through the result.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from walletbackup import __version__
from walletbackup.plugins import RESERVED_METHOD_NAMES

#: A plugin name is its method name and entry point name, and names its distribution
#: (``walletbackup-<name>``) and import package (``walletbackup_<name>``, hyphens made
#: underscores): the core's method-name rule, ending in a letter or digit as a distribution
#: name must.
NAME = re.compile(r"[a-z](?:[a-z0-9_-]{0,30}[a-z0-9])?")

#: Where each generated file comes from: (path in the plugin, template file).
LAYOUT: tuple[tuple[str, str], ...] = (
    ("pyproject.toml", "pyproject.toml.tmpl"),
    ("README.md", "README.md.tmpl"),
    ("src/{package}/__init__.py", "__init__.py.tmpl"),
    ("src/{package}/method.py", "method.py.tmpl"),
    ("src/{package}/plugin.py", "plugin.py.tmpl"),
    ("src/{package}/py.typed", "py.typed.tmpl"),
    ("tests/test_conformance.py", "test_conformance.py.tmpl"),
)


class ScaffoldError(ValueError):
    """The plugin cannot be made as asked; ``parameter`` names the culprit (``NAME``, ...)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class PluginNames:
    """The names a plugin called ``name`` uses."""

    name: str
    #: The distribution on PyPI: ``walletbackup-<name>``.
    distribution: str
    #: The import package: ``walletbackup_<name>`` with hyphens as underscores.
    package: str
    #: The method class: ``<Name>Method`` (``my_vault``, ``my-vault`` -> ``MyVaultMethod``).
    class_name: str

    @classmethod
    def of(cls, name: str) -> PluginNames:
        check_name(name)
        words = re.split(r"[-_]", name)
        return cls(
            name=name,
            distribution=f"walletbackup-{name}",
            package=f"walletbackup_{name.replace('-', '_')}",
            class_name="".join(word.capitalize() for word in words) + "Method",
        )


def check_name(name: str) -> None:
    """Raise :class:`ScaffoldError` unless ``name`` can name a plugin."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(
            "NAME",
            f"{name!r} cannot name a plugin: use a lowercase letter, then up to 31 lowercase "
            "letters, digits, hyphens or underscores, ending in a letter or digit (for "
            "example acme-token or my_vault)",
        )
    if name in RESERVED_METHOD_NAMES:
        raise ScaffoldError("NAME", f"{name!r} is reserved by walletbackup; choose another name")


def core_requirement(version: str) -> str:
    """The version range of walletbackup a new plugin depends on: this release series."""
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None:
        raise ValueError(f"walletbackup version {version!r} is not MAJOR.MINOR[...]")
    major, minor = int(found[1]), int(found[2])
    # Before 1.0 a minor release may change the plugin contract; from 1.0 only a major one.
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={major}.{minor},<{upper}"


def render(names: PluginNames) -> dict[str, str]:
    """Every file of the plugin: path in the plugin -> text."""
    templates = resources.files("walletbackup") / "templates" / "plugin"
    values = {
        "name": names.name,
        "distribution": names.distribution,
        "package": names.package,
        "class_name": names.class_name,
        "core_requirement": core_requirement(__version__),
    }
    return {
        path.format(package=names.package): Template(
            (templates / template).read_text(encoding="utf-8")
        ).substitute(values)
        for path, template in LAYOUT
    }


def create_plugin(name: str, directory: Path | None = None) -> Path:
    """Write the plugin ``walletbackup-<name>`` into ``directory``; return where it is.

    ``directory`` must not exist (default: ``./walletbackup-<name>``); its parents are created.
    Nothing that exists is ever written to, and a failure leaves no half-made plugin behind.
    """
    names = PluginNames.of(name)
    target = directory if directory is not None else Path(names.distribution)
    files = render(names)
    try:
        # Not exist_ok: creating the directory is what claims it.
        target.mkdir(parents=True)
    except FileExistsError:
        raise ScaffoldError(
            "--directory", f"{target} already exists; give a new directory with --directory"
        ) from None
    except OSError as exc:
        raise ScaffoldError("--directory", f"cannot create {target}: {exc.strerror}") from None
    try:
        for relative, text in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ScaffoldError("--directory", f"cannot write into {target}: {exc.strerror}") from None
    return target


__all__ = [
    "LAYOUT",
    "NAME",
    "PluginNames",
    "ScaffoldError",
    "check_name",
    "core_requirement",
    "create_plugin",
    "render",
]
