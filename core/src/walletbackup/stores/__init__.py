"""Stores: where the core keeps each wallet's document and the audit log.

The core ships three, chosen by URL scheme: ``sqlite:`` (the default), ``file:`` and ``memory:``.
Plugins add more through the ``register_stores`` hook; :func:`open_store` takes them as ``extra``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from walletbackup.errors import PluginError, StorageError
from walletbackup.stores.base import Store
from walletbackup.stores.file import FileStore
from walletbackup.stores.memory import MemoryStore
from walletbackup.stores.sqlite import SqliteStore
from walletbackup.stores.urls import split_url

#: The core's stores by URL scheme.
CORE_STORES: Mapping[str, type[Store]] = MappingProxyType(
    {cls.scheme: cls for cls in (SqliteStore, FileStore, MemoryStore)}
)

_NO_EXTRA: Mapping[str, type[Store]] = MappingProxyType({})


def open_store(url: str, extra: Mapping[str, type[Store]] = _NO_EXTRA) -> Store:
    """Open the store ``url`` names, among the core's stores and ``extra`` (scheme to class).

    Raises :class:`StorageError` for a malformed URL or an unknown scheme, and
    :class:`PluginError` when ``extra`` claims one of the core's schemes.
    """
    scheme, _ = split_url(url)
    taken = sorted(CORE_STORES.keys() & extra.keys())
    if taken:
        raise PluginError(
            f"a plugin registers the store scheme(s) {', '.join(taken)}, which the core owns; "
            "uninstall that plugin or ask its author to pick another scheme"
        )
    known = {**CORE_STORES, **extra}
    if scheme not in known:
        raise StorageError(
            f"unknown store scheme {scheme!r} in {url!r}; known schemes: "
            f"{', '.join(sorted(known))} (another scheme needs the plugin that provides it)"
        )
    return known[scheme](url)


__all__ = ["CORE_STORES", "FileStore", "MemoryStore", "SqliteStore", "Store", "open_store"]
