"""A 2-of-2 split of a secret, for applications without an MPC engine of their own.

``split_secret`` gives a *client* share that is a fresh random pad and a *custodian* share that is
the secret XOR the pad: a one-time pad, so each share alone is uniformly random and reveals
nothing about the secret (not even a bit of it); only both shares together give it back.
"""

from __future__ import annotations

import os

from .errors import MalformedBackup


def split_secret(secret: bytes) -> tuple[bytes, bytes]:
    """Split ``secret`` into ``(client_share, custodian_share)``; both are needed to recover it."""
    if not secret:
        raise ValueError("cannot split an empty secret")
    pad = os.urandom(len(secret))
    return pad, _xor(secret, pad)


def combine_shares(client_share: bytes, custodian_share: bytes) -> bytes:
    """The secret that :func:`split_secret` split into these two shares.

    Raises :class:`MalformedBackup` when the shares are empty or of different lengths (they did
    not come from one split).
    """
    if len(client_share) != len(custodian_share):
        raise MalformedBackup(
            f"the client share ({len(client_share)} bytes) and the custodian share "
            f"({len(custodian_share)} bytes) do not come from one split: lengths must match"
        )
    if not client_share:
        raise MalformedBackup("both shares are empty: they do not come from a split")
    return _xor(client_share, custodian_share)


def _xor(left: bytes, right: bytes) -> bytes:
    return (int.from_bytes(left) ^ int.from_bytes(right)).to_bytes(len(left))


__all__ = ["combine_shares", "split_secret"]
