"""The conformance kit: example methods pass it, and each broken method fails exactly its checks."""

from __future__ import annotations

import pytest

# The example module must import under one name from one place: its entry point loads it by name.
from broken_methods import BROKEN
from example_method import FileKeyKit, InstalledExample, PassphraseKit
from kit_runner import INNER_ARGS, checks_of, run_kit

from walletbackup.testing import MethodConformance, json_safety_problems

pytest_plugins = ["pytester"]


class TestFileKeyMethod(InstalledExample, FileKeyKit):
    """The kit, as a plugin runs it: remote material and an entry point."""


class TestPassphraseMethod(InstalledExample, PassphraseKit):
    """The kit, as a plugin runs it: wrong unlock options and an entry point."""


ALL_CHECKS = checks_of(MethodConformance)
OPT_IN = {
    "test_deleted_material_fails_to_unlock",
    "test_corrupted_material_is_detected",
    "test_wrong_unlock_options_do_not_unlock",
    "test_registered_by_its_entry_point",
    "test_presence_follows_the_material",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_kit_catches_broken_method(pytester: pytest.Pytester, name: str) -> None:
    expected = BROKEN[name][2]
    passed, failed = run_kit(
        pytester, f"from broken_methods import kit_for\nTestBroken = kit_for({name!r})\n"
    )
    assert failed == expected
    assert passed.isdisjoint(failed)


def test_checks_that_do_not_apply_are_not_collected(pytester: pytest.Pytester) -> None:
    passed, failed = run_kit(
        pytester,
        "from example_method import PassphraseKit\n"
        "class TestLocal(PassphraseKit):\n"
        "    wrong_unlock_options = None\n",
    )
    assert failed == set()
    assert passed == ALL_CHECKS - OPT_IN


def test_every_check_applies_to_a_remote_method_with_an_entry_point(
    pytester: pytest.Pytester,
) -> None:
    passed, failed = run_kit(
        pytester,
        "from example_method import FileKeyKit, InstalledExample\n"
        "class TestRemote(InstalledExample, FileKeyKit):\n"
        "    wrong_unlock_options = {'directory': '/nonexistent-walletbackup-dir'}\n",
    )
    assert failed == set()
    assert passed == ALL_CHECKS


def test_missing_method_factory_fails_every_check_with_a_hint(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="from walletbackup.testing import MethodConformance\n"
        "class TestNothing(MethodConformance):\n"
        "    pass\n"
    )
    result = pytester.runpytest_inprocess(*INNER_ARGS)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 0
    assert outcomes["errors"] == len(ALL_CHECKS - OPT_IN) + 2  # two more malformed-args cases
    result.stdout.fnmatch_lines(["*TestNothing must define a method_factory fixture*"])


def test_own_version_of_an_opt_in_check_is_kept() -> None:
    def test_corrupted_material_is_detected(self: object) -> None:
        """A plugin's own version of the check."""

    kit = type(
        "Custom",
        (PassphraseKit,),
        {"test_corrupted_material_is_detected": test_corrupted_material_is_detected},
    )
    assert kit.test_corrupted_material_is_detected is test_corrupted_material_is_detected
    assert kit.test_deleted_material_fails_to_unlock is None


def test_remote_material_without_hooks_is_refused() -> None:
    with pytest.raises(TypeError, match="override corrupt_material"):
        type("TestRemote", (MethodConformance,), {"has_remote_material": True})


def test_presence_checks_without_remote_material_are_refused() -> None:
    with pytest.raises(TypeError, match="set has_remote_material too"):
        type("TestPresence", (PassphraseKit,), {"checks_presence": True})


@pytest.mark.parametrize(
    ("value", "problems"),
    [
        ({"a": "x", "b": 1, "c": [1, "y", {"d": []}]}, []),
        ({"a": 1.5}, ["args['a'] is a float"]),
        ({"a": True}, ["args['a'] is a bool"]),
        ({"a": None}, ["args['a'] is a NoneType"]),
        ({"a": [b"x"]}, ["args['a'][0] is a bytes"]),
        ({1: "x"}, ["args: key 1 is not a str"]),
        ({"a": {"b": (1,)}}, ["args['a']['b'] is a tuple"]),
    ],
)
def test_json_safety_problems(value: object, problems: list[str]) -> None:
    assert json_safety_problems(value) == problems
