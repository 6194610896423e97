"""The PostgreSQL store passes the core's store kit, exactly as a third-party store would."""

from __future__ import annotations

import itertools

import pytest
from postgres_cluster import PostgresCluster

from walletbackup.testing import StoreConformance, StoreFactory
from walletbackup_postgres import PostgresStore

_NAMESPACES = itertools.count()


class TestPostgresStore(StoreConformance):
    shared_by_url = True

    @pytest.fixture(autouse=True)
    def _hide_password(self, postgres_cluster: PostgresCluster) -> None:
        # The kit reads url_secrets from the class; the password is known only at run time.
        self.url_secrets = (postgres_cluster.password,)

    @pytest.fixture
    def store_factory(self, postgres_cluster: PostgresCluster) -> StoreFactory:
        # A fresh namespace per store is a fresh, empty store (cheaper than a new database).
        return lambda: PostgresStore(postgres_cluster.url(namespace=f"kit_{next(_NAMESPACES)}"))
