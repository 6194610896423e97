"""The store kit: the core's stores pass it, and each broken store fails exactly its checks."""

from __future__ import annotations

import itertools
import secrets
from pathlib import Path

import pytest
from broken_stores import BROKEN
from kit_runner import INNER_ARGS, checks_of, run_kit

from walletbackup.stores import FileStore, MemoryStore, SqliteStore, Store
from walletbackup.testing import StoreConformance, StoreFactory

pytest_plugins = ["pytester"]


class TestSqliteStore(StoreConformance):
    shared_by_url = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        numbers = itertools.count()
        return lambda: SqliteStore(f"sqlite://{tmp_path}/{next(numbers)}/backups.db")


class TestFileStore(StoreConformance):
    shared_by_url = True

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        numbers = itertools.count()
        return lambda: FileStore(f"file://{tmp_path}/{next(numbers)}")


class TestPrivateMemoryStore(StoreConformance):
    """``memory:``: each instance is a space of its own, so nothing is shared by URL."""

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda: MemoryStore("memory:")


class TestNamedMemoryStore(StoreConformance):
    shared_by_url = True

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        run, numbers = secrets.token_hex(8), itertools.count()

        def factory() -> Store:
            return MemoryStore(f"memory:kit-{run}-{next(numbers)}")

        return factory


ALL_CHECKS = checks_of(StoreConformance)
OPT_IN = {"test_same_url_shares_wallets_audit_and_locks"}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_kit_catches_broken_store(pytester: pytest.Pytester, name: str) -> None:
    passed, failed = run_kit(
        pytester, f"from broken_stores import kit_for\nTestBroken = kit_for({name!r})\n"
    )
    assert failed == BROKEN[name][2]
    assert passed == ALL_CHECKS - failed - (set() if BROKEN[name][1] else OPT_IN)


def test_sharing_check_is_not_collected_for_a_private_store(pytester: pytest.Pytester) -> None:
    passed, failed = run_kit(
        pytester,
        "import pytest\n"
        "from walletbackup.stores import MemoryStore\n"
        "from walletbackup.testing import StoreConformance\n"
        "class TestPrivate(StoreConformance):\n"
        "    @pytest.fixture\n"
        "    def store_factory(self):\n"
        "        return lambda: MemoryStore('memory:')\n",
    )
    assert failed == set()
    assert passed == ALL_CHECKS - OPT_IN


def test_missing_store_factory_fails_every_check_with_a_hint(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="from walletbackup.testing import StoreConformance\n"
        "class TestNothing(StoreConformance):\n"
        "    pass\n"
    )
    result = pytester.runpytest_inprocess(*INNER_ARGS)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 0
    assert outcomes["errors"] == len(ALL_CHECKS - OPT_IN)
    result.stdout.fnmatch_lines(["*TestNothing must define a store_factory fixture*"])


def test_url_secrets_are_looked_for_in_repr(pytester: pytest.Pytester) -> None:
    # The core's stores show their URL in repr(): a URL secret there must fail the check.
    passed, failed = run_kit(
        pytester,
        "import itertools, pytest, secrets\n"
        "from walletbackup.stores import MemoryStore\n"
        "from walletbackup.testing import StoreConformance\n"
        "class TestPassword(StoreConformance):\n"
        "    url_secrets = ('hunter2',)\n"
        "    @pytest.fixture\n"
        "    def store_factory(self):\n"
        "        run, numbers = secrets.token_hex(8), itertools.count()\n"
        "        return lambda: MemoryStore(f'memory:hunter2-{run}-{next(numbers)}')\n",
    )
    assert failed == {"test_repr_holds_no_secret"}
    assert passed == ALL_CHECKS - OPT_IN - failed
