"""The KMS kit: the local KMS passes it, and each broken provider fails exactly its checks."""

from __future__ import annotations

import pytest
from broken_kms import BROKEN, LocalKmsKit
from kit_runner import INNER_ARGS, checks_of, run_kit

from walletbackup.testing import KmsConformance

pytest_plugins = ["pytester"]


class TestLocalKms(LocalKmsKit):
    """The kit, as a provider plugin runs it, with the key material exposed."""


ALL_CHECKS = checks_of(KmsConformance)
OPT_IN = {"test_fingerprint_is_not_the_key"}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_kit_catches_broken_provider(pytester: pytest.Pytester, name: str) -> None:
    passed, failed = run_kit(
        pytester, f"from broken_kms import kit_for\nTestBroken = kit_for({name!r})\n"
    )
    assert failed == BROKEN[name][1]
    assert passed == ALL_CHECKS - failed


def test_checks_on_key_material_are_not_collected_without_it(pytester: pytest.Pytester) -> None:
    passed, failed = run_kit(
        pytester,
        "from broken_kms import LocalKmsKit\n"
        "class TestSealed(LocalKmsKit):\n"
        "    exposes_key_material = False\n",
    )
    assert failed == set()
    assert passed == ALL_CHECKS - OPT_IN


def test_missing_factories_fail_every_check_with_a_hint(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="from walletbackup.testing import KmsConformance\n"
        "class TestNothing(KmsConformance):\n"
        "    pass\n"
    )
    result = pytester.runpytest_inprocess(*INNER_ARGS)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 0
    assert outcomes["errors"] == len(ALL_CHECKS - OPT_IN)
    result.stdout.fnmatch_lines(
        [
            "*TestNothing must define a kms_factory fixture*",
            "*TestNothing must define a keyless_kms_factory fixture*",
        ],
        consecutive=False,
    )


def test_exposed_key_material_needs_its_hook() -> None:
    with pytest.raises(TypeError, match="override key_material"):
        type("TestExposed", (KmsConformance,), {"exposes_key_material": True})
