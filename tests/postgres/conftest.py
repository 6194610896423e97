"""The PostgreSQL cluster the tests of this directory share (one per session)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from postgres_cluster import PostgresCluster, cluster_for

_DATABASES = itertools.count()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    with cluster_for("the PostgreSQL store tests") as cluster:
        yield cluster


@pytest.fixture
def database_url(postgres_cluster: PostgresCluster) -> str:
    """A new, empty database of the test's own."""
    return postgres_cluster.create_database(f"test_{next(_DATABASES)}")
