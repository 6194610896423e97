"""Every plugin hook is documented in docs/hooks.md as the code declares it, and tested.

"Tested" is checked by running: :data:`HOOK_TESTS` names, for each hook, a test of the suite
that calls it. That test is run in a child pytest with :class:`HookTrace`, which records the
walletbackup hooks each test calls *with at least one implementation*. A new hook without a
named test, a named test that is gone, fails, or no longer reaches its hook: each fails here.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy
import pytest

from walletbackup import audit, hookspecs

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "hooks.md"
PLUGIN_TESTS = "tests/core/test_plugins.py"

#: For each hook, a test that calls it. All in tests/core, so they run with the core alone.
HOOK_TESTS = {
    "register_backup_methods": f"{PLUGIN_TESTS}::test_good_plugin_registers_its_method",
    "register_kms_providers": (
        f"{PLUGIN_TESTS}::test_core_stores_and_local_kms_belong_to_walletbackup"
    ),
    "register_stores": f"{PLUGIN_TESTS}::test_core_stores_and_local_kms_belong_to_walletbackup",
    "register_commands": f"{PLUGIN_TESTS}::test_command_hook_exception_is_logged_not_raised",
    "audit_event": f"{PLUGIN_TESTS}::test_audit_sink_exception_is_logged_not_raised",
}

SECTION = re.compile(r"^## `(\w+)`\n(.*?)(?=^## |\Z)", re.MULTILINE | re.DOTALL)
# Marked as not run for the docs' code test (tests/core/test_docs_code.py): checked here instead.
SIGNATURE_BLOCK = re.compile(r"\A\s*<!-- not run: signature -->\n```python\n(.+?)\n```", re.DOTALL)


def hooks() -> dict[str, Callable[..., Any]]:
    """The hook specifications: functions of walletbackup.hookspecs marked ``@hookspec``."""
    marker = f"{hookspecs.PROJECT}_spec"
    return {
        name: value
        for name, value in vars(hookspecs).items()
        if inspect.isfunction(value) and hasattr(value, marker)
    }


def signature_text(hook: Callable[..., Any]) -> str:
    """``name(param: annotation, ...) -> return`` as the source writes it.

    hookspecs uses ``from __future__ import annotations``, so annotations are the source text.
    """
    signature = inspect.signature(hook)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    return f"{hook.__name__}({params}) -> {signature.return_annotation}"


def sections() -> dict[str, str]:
    """Hook name -> the text of its section in docs/hooks.md."""
    return dict(SECTION.findall(DOC.read_text(encoding="utf-8")))


def documented(name: str) -> tuple[str, str]:
    """The signature a hook's section opens with, and the rest of the section."""
    body = sections().get(name)
    assert body is not None, f"docs/hooks.md has no section ## `{name}`"
    block = SIGNATURE_BLOCK.match(body)
    assert block is not None, f"the section of {name} must open with its signature (```python)"
    return block[1], body[block.end() :]


def test_the_hooks_are_found() -> None:
    # Guards the two tests below against passing on an empty list.
    assert set(hooks()) >= {"register_backup_methods", "audit_event"}


def test_every_hook_has_a_section_and_every_section_a_hook() -> None:
    assert set(sections()) == set(hooks())


@pytest.mark.parametrize("name", sorted(hooks()))
def test_the_documented_signature_is_the_real_one(name: str) -> None:
    signature, _ = documented(name)
    assert signature == signature_text(hooks()[name])


@pytest.mark.parametrize("name", sorted(hooks()))
def test_every_parameter_is_described(name: str) -> None:
    _, description = documented(name)
    for parameter in inspect.signature(hooks()[name]).parameters:
        assert f"- `{parameter}`:" in description, f"{name}: describe `{parameter}` in a bullet"


@pytest.mark.parametrize("kind", audit.EVENT_TYPES)
def test_every_audit_event_type_is_documented(kind: str) -> None:
    assert f"``{kind}``" in (hookspecs.audit_event.__doc__ or ""), "in the hookspec docstring"
    _, description = documented("audit_event")
    assert f"`{kind}`" in description, "in docs/hooks.md"


def test_every_hook_names_a_test() -> None:
    assert set(HOOK_TESTS) == set(hooks())


class HookTrace:
    """A pytest plugin for the child run: the walletbackup hooks each test calls, and outcomes.

    It watches every ``pluggy.PluginManager`` of the walletbackup project created during the
    run (walletbackup.plugins makes a new one each time plugins are loaded).
    """

    def __init__(self) -> None:
        self.called: dict[str, set[str]] = defaultdict(set)
        self.outcomes: dict[str, str] = {}
        self._test: str | None = None
        self._patch = pytest.MonkeyPatch()

    def pytest_configure(self) -> None:
        trace = self

        class TracedPluginManager(pluggy.PluginManager):
            def __init__(self, project_name: str) -> None:
                super().__init__(project_name)
                if project_name == hookspecs.PROJECT:
                    self.add_hookcall_monitoring(trace.before, trace.after)

        self._patch.setattr(pluggy, "PluginManager", TracedPluginManager)

    def pytest_unconfigure(self) -> None:
        self._patch.undo()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        self._test = item.nodeid
        try:
            return (yield)
        finally:
            self._test = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # A failure in any phase (setup, call, teardown) wins over a passing call.
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.when == "call":
            self.outcomes.setdefault(report.nodeid, report.outcome)

    def before(self, hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        if self._test is not None and hook_impls:
            self.called[self._test].add(hook_name)

    def after(self, *args: Any) -> None:
        """Nothing to do after a call; pluggy wants both halves."""

    def report(self) -> dict[str, Any]:
        return {"called": {k: sorted(v) for k, v in self.called.items()}, "outcomes": self.outcomes}


# The child finds this module through PYTHONPATH (set below).
CHILD = """
import json, sys
import pytest
from test_hooks_documented import HookTrace
trace = HookTrace()
pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[2:]], plugins=[trace])
with open(sys.argv[1], "w") as out:
    json.dump(trace.report(), out)
"""


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run every test named in HOOK_TESTS once, in a child pytest with the trace."""
    out = tmp_path_factory.mktemp("hooktrace") / "trace.json"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(out),
            *sorted(set(HOOK_TESTS.values())),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.exists(), result.stdout + result.stderr
    report: dict[str, Any] = json.loads(out.read_text())
    report["log"] = result.stdout + result.stderr
    return report


@pytest.mark.parametrize("hook", sorted(HOOK_TESTS))
def test_the_named_test_passes_and_calls_its_hook(hook: str, traced: dict[str, Any]) -> None:
    test = HOOK_TESTS[hook]
    assert traced["outcomes"].get(test) == "passed", f"{test} did not pass:\n{traced['log']}"
    assert hook in traced["called"].get(test, []), f"{test} never called the hook {hook}"
