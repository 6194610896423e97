"""Wallet keys in the custodian's store: ``"{tenant}/{user}/{wallet_id}"``.

Tenant and user ids never contain ``/``, so the first two slashes split a key unambiguously
while a device's wallet id may hold any character the core allows (``/`` included).
"""

from __future__ import annotations


def wallet_key(tenant: str, user: str, wallet_id: str) -> str:
    return f"{user_prefix(tenant, user)}{wallet_id}"


def user_prefix(tenant: str, user: str) -> str:
    """What every key of one user's wallets starts with."""
    return f"{tenant}/{user}/"


def device_wallet_id(key: str) -> str:
    """The device's own wallet id inside a key."""
    return key.split("/", 2)[2]


__all__ = ["device_wallet_id", "user_prefix", "wallet_key"]
