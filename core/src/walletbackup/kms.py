"""KMS providers: they wrap and unwrap the custodian envelope's 32-byte backup key.

The ``local`` provider (a key file) lives in :mod:`walletbackup.kms_local`; HSMs (PKCS#11) and
cloud KMSes are plugins registered through ``register_kms_providers``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar


class KmsProvider(ABC):
    """Base class of every KMS provider. Subclasses set :attr:`scheme` and take the URL."""

    scheme: ClassVar[str]

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url!r}>"

    @abstractmethod
    def stanza_args(self) -> dict[str, Any]:
        """Public args naming the key and version to wrap under now (stored in the stanza).

        Must include ``"provider": self.scheme``, a ``"key_id"`` and an int ``"version"``.
        """

    @abstractmethod
    def wrap(self, key: bytes, aad: bytes, args: Mapping[str, Any]) -> bytes:
        """Encrypt a 32-byte key under the key named by ``args``, binding ``aad``."""

    @abstractmethod
    def unwrap(self, blob: bytes, aad: bytes, args: Mapping[str, Any]) -> bytes:
        """Decrypt what :meth:`wrap` returned; raise :class:`UnlockFailed` on any failure."""

    @abstractmethod
    def rotate(self) -> int:
        """Roll in a new key version (old versions stay usable for unwrap); return its number."""


__all__ = ["KmsProvider"]
