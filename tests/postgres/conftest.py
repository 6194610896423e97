"""The PostgreSQL cluster the tests of this directory share (one per session)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from postgres_cluster import PostgresCluster, PostgresMissing

_DATABASES = itertools.count()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster()
    except PostgresMissing as exc:
        pytest.fail(f"the PostgreSQL store tests need a PostgreSQL server: {exc}")
    with cluster:
        yield cluster


@pytest.fixture
def database_url(postgres_cluster: PostgresCluster) -> str:
    """A new, empty database of the test's own."""
    return postgres_cluster.create_database(f"test_{next(_DATABASES)}")
