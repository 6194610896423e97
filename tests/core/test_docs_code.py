"""Every Python block of README.md and docs/ runs somewhere in the suite, or says why not.

A page's blocks run where what they need is installed: docs/hooks.md here (the core alone), the
pages that back up with a password in tests/password, the Google Drive and iCloud ones beside
their fakes (:data:`RUN_BY`). This module checks that every page with a block to run has its
runner, that the blocks left out are exactly the listed few (:data:`NOT_RUN`), each with one of
the fixed reasons of ``doc_blocks.REASONS``, and runs docs/hooks.md.
"""

from __future__ import annotations

import re
import types
from collections import Counter
from pathlib import Path
from typing import Any

import click
import pluggy
import pytest
from doc_blocks import MARKER, REASONS, ROOT, blocks, blocks_of, fences, pages, run_page

from walletbackup import hookspecs
from walletbackup.kms import KmsProvider
from walletbackup.stores import Store

#: The test module that runs each page with blocks to run (checked: it names the page).
RUN_BY = {
    "README.md": "tests/password/test_password_docs.py",
    "docs/quickstart.md": "tests/password/test_password_docs.py",
    "docs/methods/password.md": "tests/password/test_password_docs.py",
    "docs/plugins.md": "tests/password/test_password_docs.py",
    "docs/api.md": "tests/gdrive/test_gdrive_docs.py",
    "docs/methods/gdrive.md": "tests/gdrive/test_gdrive_docs.py",
    "docs/methods/icloud.md": "tests/icloud/test_icloud_docs.py",
    "docs/methods/passkey.md": "tests/passkey/test_passkey_docs.py",
    "docs/hooks.md": "tests/core/test_docs_code.py",
    "docs/postgres.md": "tests/postgres/test_postgres_docs.py",
    "docs/pkcs11.md": "tests/pkcs11/test_pkcs11_docs.py",
    "docs/server.md": "tests/server/test_server_docs.py",
}

#: Every block not run, by page and reason. Adding one means adding it here, for review.
NOT_RUN = {
    # One per hook: the signature each hook's section opens with.
    ("docs/hooks.md", "signature"): 5,
    # `from .method import VaultMethod`: the page's first example and register_backup_methods'.
    ("docs/hooks.md", "plugin package"): 2,
    # plugin.py, method.py and tests/test_conformance.py as `walletbackup new-plugin` writes them.
    ("docs/plugins.md", "generated file"): 3,
    # The store and KMS kits run against `walletbackup_vault`, a plugin the page imagines.
    ("docs/plugins.md", "plugin package"): 1,
    # A USB security key's PIN and touch on the terminal, and a browser's passkey prompt.
    ("docs/methods/passkey.md", "needs a person"): 1,
    # The device side of docs/server.md: it needs a running service and a user token.
    ("docs/server.md", "needs the service"): 1,
}

#: Languages that would hide a Python block from the runner: spell it ```python.
PYTHON_ALIASES = {"py", "py3", "python3", "pycon", "ipython", "ipython3"}


def all_blocks() -> list[Any]:
    return [block for page in pages() for block in blocks(page)]


# --- the parser --------------------------------------------------------------------------


def test_fences_follow_commonmark() -> None:
    text = (
        "<!-- not run: signature -->\n"
        "```python\nx = 1\n```\n"
        "````markdown\n```python\nhidden = 1\n```\n````\n"
        "~~~python\ny = 2\n~~~\n"
        "```python\nz = 3\n"
    )
    found = blocks_of(text, "page.md")
    assert [(b.line, b.code, b.not_run) for b in found] == [
        (3, "x = 1\n", "signature"),
        (11, "y = 2\n", None),
        (14, "z = 3\n", None),
    ]


def test_pages_are_found() -> None:
    found = pages()
    assert {"README.md", "docs/api.md", "docs/methods/password.md"} <= set(found)
    assert not [page for page in found if "_build" in page]


# --- every page runs, or says why not ----------------------------------------------------------


def test_every_page_with_blocks_to_run_has_its_runner() -> None:
    to_run = {page for page in pages() if any(b.not_run is None for b in blocks(page))}
    assert to_run == set(RUN_BY)


@pytest.mark.parametrize("page", sorted(RUN_BY))
def test_the_runner_runs_the_page(page: str) -> None:
    runner = ROOT / RUN_BY[page]
    assert f'"{page}"' in runner.read_text(encoding="utf-8"), f"{runner} does not run {page}"


def test_python_blocks_are_spelt_python() -> None:
    hidden = [
        f"{page}:{fence.line}: {fence.info}"
        for page in pages()
        for fence in fences((ROOT / page).read_text(encoding="utf-8"))
        if set(re.findall(r"[\w-]+", fence.info.lower())) & PYTHON_ALIASES
        or (fence.info.startswith("{") and "python" in fence.info)
    ]
    assert hidden == []


def test_every_marker_is_right_before_a_python_block() -> None:
    misplaced = []
    for page in pages():
        lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if re.search(r"<!--\s*not[ -]?run", line, re.IGNORECASE) and not (
                MARKER.match(line.strip())
                and number < len(lines)
                and re.match(r"^ {0,3}(```|~~~)python\s*$", lines[number])
            ):
                misplaced.append(f"{page}:{number}: {line.strip()}")
    assert misplaced == []


def test_every_marker_gives_a_known_reason() -> None:
    unknown = [f"{b}: {b.not_run}" for b in all_blocks() if b.not_run not in (None, *REASONS)]
    assert unknown == [], f"reasons: {sorted(REASONS)}"


def test_the_blocks_not_run_are_the_listed_ones() -> None:
    found = Counter((b.page, b.not_run) for b in all_blocks() if b.not_run is not None)
    assert dict(found) == NOT_RUN


def test_one_signature_per_hook() -> None:
    marker = f"{hookspecs.PROJECT}_spec"
    specs = [name for name, value in vars(hookspecs).items() if hasattr(value, marker)]
    assert NOT_RUN["docs/hooks.md", "signature"] == len(specs)


def test_most_blocks_run() -> None:
    every = all_blocks()
    assert sum(b.not_run is not None for b in every) * 3 <= len(every)


# --- README's two commands -------------------------------------------------------------------


def test_the_readme_commands_are_the_demo_and_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [fence.body for fence in fences(readme) if fence.info == "sh"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()[-1]
    assert commands == [
        (
            "python3 -m venv .venv && .venv/bin/pip install ./core ./plugins/password"
            " && .venv/bin/walletbackup demo",
        ),
        (ci,),
    ]


# --- docs/hooks.md runs, and its hooks are real ones -------------------------------------------


def test_hooks_page_runs_and_its_hooks_match_the_specs(tmp_path: Path) -> None:
    namespace = run_page("docs/hooks.md", tmp_path)
    plugin = types.ModuleType("walletbackup_vault.plugin")
    plugin.__dict__.update(namespace)
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)  # an implementation's parameters must be its spec's
    pm.check_pending()  # and its name a hook's
    implemented = {caller.name for caller in pm.get_hookcallers(plugin) or ()}
    assert implemented == {
        "register_kms_providers",
        "register_stores",
        "register_commands",
        "audit_event",
    }
    registered: list[type[Any]] = []
    pm.hook.register_kms_providers(register=registered.append)
    pm.hook.register_stores(register=registered.append)
    assert [c.__name__ for c in registered] == ["VaultTransitKms", "PostgresStore"]
    assert issubclass(registered[0], KmsProvider)
    assert issubclass(registered[1], Store)
    cli = click.Group("walletbackup")
    pm.hook.register_commands(cli=cli)
    vault = cli.commands["vault"]
    assert isinstance(vault, click.Group)
    assert list(vault.commands) == ["login"]
