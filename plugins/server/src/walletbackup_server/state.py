"""The service's own documents (tenants, credentials) as JSON in a core :class:`Store`.

Kept apart from the wallet store, so operator commands that walk wallets never meet them. Each
document is one canonical-JSON value under a key such as ``tenant/NAME``; the Store gives the
atomic replace and the cross-process lock. Later features (eject, rate limits) add their own key
prefixes here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from walletbackup import canonical
from walletbackup.errors import StorageError
from walletbackup.stores import Store, open_store
from walletbackup.stores.urls import split_url

#: A key no document uses: :meth:`ServerState.probe` reads it to see the store answers.
PROBE_KEY = "probe/ready"


class ServerState:
    """JSON documents by key, in ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def open(cls, url: str) -> ServerState:
        return cls(open_store(url))

    def __repr__(self) -> str:
        return f"<ServerState {self.store!r}>"

    def load(self, key: str) -> dict[str, Any] | None:
        data = self.store.load(key)
        if data is None:
            return None
        document = canonical.loads(data)
        if not isinstance(document, dict):
            raise StorageError(f"the server document {key!r} is not a JSON object")
        return document

    def save(self, key: str, document: dict[str, Any]) -> None:
        self.store.save(key, canonical.dumps(document))

    def delete(self, key: str) -> None:
        self.store.delete(key)

    def lock(self, key: str) -> AbstractContextManager[None]:
        return self.store.lock(key)

    def keys(self, prefix: str) -> Iterator[str]:
        """The keys that start with ``prefix``, sorted."""
        return self.store.wallets_with_prefix(prefix)

    def probe(self) -> None:
        """One cheap read: raises :class:`StorageError` when the store does not answer."""
        self.store.load(PROBE_KEY)

    def close(self) -> None:
        self.store.close()


def default_state_url(store_url: str) -> str:
    """Where the server keeps its documents, beside the wallet store ``store_url``.

    ``sqlite:///DIR/NAME.db`` → ``sqlite:///DIR/NAME-server.db``; ``file:///DIR`` →
    ``file:///DIR-server``; ``postgresql://…`` → the same database, namespace
    ``walletbackup_server``; ``memory:NAME`` → ``memory:NAME-server``. The embedded default
    ``sqlite:`` is the database in the user data directory, so its state is beside it.
    """
    scheme, location = split_url(store_url)
    if scheme == "sqlite":
        if location == "":
            from walletbackup.stores.sqlite import default_database  # noqa: PLC0415

            location = f"//{default_database()}"
        stem, dot, suffix = location.rpartition(".")
        if dot and "/" not in suffix:
            return f"sqlite:{stem}-server.{suffix}"
        return f"sqlite:{location}-server"
    if scheme == "file":
        return f"file:{location.rstrip('/')}-server"
    if scheme == "memory":
        # memory: alone is private to its instance; so is the state beside it.
        return f"memory:{location}-server" if location else "memory:"
    if scheme.startswith("postgres"):
        base, _, query = store_url.partition("?")
        params = [p for p in query.split("&") if p and not p.startswith("namespace=")]
        params.append("namespace=walletbackup_server")
        return f"{base}?{'&'.join(params)}"
    raise StorageError(
        f"no default server state store beside {store_url!r}: give one with --state URL"
    )


__all__ = ["PROBE_KEY", "ServerState", "default_state_url"]
