"""Stores: where the core keeps each wallet's document and the audit log.

The core ships three, chosen by URL scheme: ``sqlite:`` (the default), ``file:`` and ``memory:``.
Plugins add more through the ``register_stores`` hook, the way the core registers its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from walletbackup.errors import MethodUnavailable, StorageError
from walletbackup.stores.base import AuditEntry, Store
from walletbackup.stores.file import FileStore
from walletbackup.stores.memory import MemoryStore
from walletbackup.stores.sqlite import SqliteStore
from walletbackup.stores.urls import split_url

#: The core's stores by URL scheme.
CORE_STORES: Mapping[str, type[Store]] = MappingProxyType(
    {cls.scheme: cls for cls in (SqliteStore, FileStore, MemoryStore)}
)


def open_store(url: str) -> Store:
    """Open the store ``url`` names: the core's and the plugins' stores, found in one registry.

    Raises :class:`StorageError` for a malformed URL or an unknown scheme, and
    :class:`PluginError` when two distributions claim the scheme (the core's included).
    """
    from walletbackup import plugins  # noqa: PLC0415 - the registry loads the plugins

    scheme, _ = split_url(url)
    try:
        store = plugins.get_store(scheme)
    except MethodUnavailable:
        raise StorageError(
            f"unknown store scheme {scheme!r} in {url!r}; known schemes: "
            f"{', '.join(sorted(plugins.store_registry()))} (another scheme needs the plugin "
            "that provides it)"
        ) from None
    return store(url)


__all__ = [
    "CORE_STORES",
    "AuditEntry",
    "FileStore",
    "MemoryStore",
    "SqliteStore",
    "Store",
    "open_store",
]
