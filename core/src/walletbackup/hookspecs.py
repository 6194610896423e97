"""The plugin hooks. Each docstring is the reference; docs/hooks.md is checked against these.

Plugins implement hooks with :data:`walletbackup.hookimpl` in a module named by an entry point in
the ``walletbackup`` group. Every ``register_*`` hook receives a ``register`` callback, so the core
validates each item and records which distribution supplied it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "walletbackup"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_backup_methods(register: Callable[[type[Any]], None]) -> None:
    """Register backup methods: call ``register(MethodClass)`` once per :class:`BackupMethod`.

    Called once, when plugins are first loaded. Returns nothing. A name registered twice is a
    :class:`PluginError` naming both distributions.

    Example::

        @hookimpl
        def register_backup_methods(register):
            register(PasswordMethod)
    """


@hookspec
def register_kms_providers(register: Callable[[type[Any]], None]) -> None:
    """Register KMS back ends for the custodian share: ``register(ProviderClass)``.

    Each class is a :class:`walletbackup.kms.KmsProvider` with a unique URL ``scheme``; the core
    picks it for ``WalletBackup(kms="<scheme>:...")``. Called once at plugin load. Returns nothing.

    Example::

        @hookimpl
        def register_kms_providers(register):
            register(VaultTransitKms)   # scheme = "vault"
    """


@hookspec
def register_stores(register: Callable[[type[Any]], None]) -> None:
    """Register stores: ``register(StoreClass)``, a :class:`~walletbackup.stores.Store` by scheme.

    The core picks it for ``WalletBackup(store="<scheme>:...")``. Called once at plugin load.
    Returns nothing.

    Example::

        @hookimpl
        def register_stores(register):
            register(PostgresStore)     # scheme = "postgresql"
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add CLI commands: ``cli`` is the root ``click.Group``; call ``cli.add_command(...)``.

    Called when the ``walletbackup`` command starts (only then, so the Python API never imports
    click-based plugin code). Returns nothing. Group commands under the method's name.

    Example::

        @hookimpl
        def register_commands(cli):
            @cli.group(name="gdrive")
            def gdrive(): "Google Drive sign-in."
    """


@hookspec
def audit_event(event: dict[str, Any]) -> None:
    """Receive every audit event: backups, recovery attempts (success and failure), method changes.

    ``event`` is a JSON-safe dict with ``type``, ``outcome`` (``ok`` / ``failed``) and ``at``
    (ISO 8601 UTC). The types: the device's operations ``backup``, ``recover``, ``verify``,
    ``add_method``, ``remove_method``, ``confirm``, ``rewrap_custodian`` and ``forget``, with
    ``wallet_id`` and ``mode``; the KMS operator's ``rotate_kms`` (``version``) and
    ``retire_kms`` (``below``, ``retired``: how many), with no wallet; and what a health check
    found for the wallet's owner to act on, always ``failed``: ``material_missing`` (a method's
    remote key material is gone) and ``verification_due`` (``verified_at``: when the method last
    opened the wallet, when known), with ``wallet_id``, ``method`` and ``stanza_id``; and the
    custodian service's eject steps, with ``wallet_id``, ``tenant``, ``user``, ``revision``,
    ``not_before`` and ``webhook`` (``delivered`` / ``failed`` / ``none``: the signed event to
    the tenant's backend): ``eject_prepare``, ``eject_cancel`` and ``eject``. Where one
    applies: ``method``, ``success`` (``confirm``: 1 or 0) and ``error`` (the error class name).
    It never holds a secret. Called after the core has written the event to the store's audit
    table; an exception here is logged and does not fail the operation.
    Returns nothing.

    Example::

        @hookimpl
        def audit_event(event):
            syslog.syslog(json.dumps(event))
    """
