"""The KMS provider contract: wrap and unwrap the custodian envelope's 32-byte backup key.

A provider holds one *key* (named by a public ``key_id``) made of numbered *versions*: new
custodian envelopes are wrapped under the current version, :meth:`KmsProvider.rotate` adds one,
:meth:`KmsProvider.retire` drops old ones. A provider never makes a key on its own: only
:meth:`KmsProvider.create_key` does, and it refuses when a key exists, so a lost key is reported
(:class:`KmsKeyMissing`) instead of being silently replaced by one that opens nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from walletbackup.errors import StorageError, UnlockFailed

#: The HMAC message of :func:`key_fingerprint`; a label of its own, so no other use of the key
#: (AES-GCM wrapping) ever computes the same value.
FINGERPRINT_LABEL = b"walletbackup/kms-fingerprint"
#: Bytes of the HMAC kept in a fingerprint: enough that two keys never share one by chance.
FINGERPRINT_BYTES = 16


class KmsKeyMissing(StorageError):
    """The provider has no key at all (a key file deleted or never restored, an HSM key gone).

    Raised by :meth:`~KmsProvider.stanza_args`, :meth:`~KmsProvider.wrap`,
    :meth:`~KmsProvider.unwrap`, :meth:`~KmsProvider.rotate`, :meth:`~KmsProvider.retire` and
    :meth:`~KmsProvider.key_info`. The message names the key (and its path, for a file) and how to
    restore it; it never holds key material. Creating a new key does not help: a new key opens
    none of the envelopes the lost one sealed.
    """


@dataclass(frozen=True)
class KeyInfo:
    """Public facts about a provider's key; nothing in it is secret.

    ``fingerprint`` identifies the key material of the ``current`` version without revealing it,
    so an operator can tell whether two copies of a key (two key files, a backup and the live
    one) hold the same current version; :func:`key_fingerprint` makes it from raw key bytes.
    """

    provider: str
    key_id: str
    current: int
    versions: tuple[int, ...]
    fingerprint: str


def key_fingerprint(key: bytes) -> str:
    """The public fingerprint of one key version: hex of HMAC-SHA256(key, label)[:16].

    HMAC under the key itself: only a holder of the key can compute it, and it reveals nothing
    about the key (HMAC-SHA256 is a PRF), so it can be printed, logged and compared freely.
    """
    # Imported here, not with the module: every command loads the providers with the plugins.
    from cryptography.hazmat.primitives import hashes, hmac  # noqa: PLC0415

    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(FINGERPRINT_LABEL)
    return mac.finalize()[:FINGERPRINT_BYTES].hex()


class KmsProvider(ABC):
    """Base class of every KMS provider. Subclasses set :attr:`scheme` and take the URL."""

    scheme: ClassVar[str]

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url!r}>"

    @abstractmethod
    def create_key(self) -> KeyInfo:
        """Create the key (its first version) and describe it.

        Raises :class:`StorageError` (never :class:`KmsKeyMissing`) when a key exists: a key is
        never overwritten. Nothing else creates a key, so call this once, when setting up.
        """

    @abstractmethod
    def key_info(self) -> KeyInfo:
        """The key's id, versions and current version's fingerprint; :class:`KmsKeyMissing`."""

    def stanza_args(self) -> dict[str, Any]:
        """Public args naming the key and version to wrap under now (stored in the stanza).

        They hold ``"provider": self.scheme``, the ``"key_id"`` and the current int
        ``"version"``, as :meth:`key_info` gives them; a provider that needs more public args
        overrides this. Raises :class:`KmsKeyMissing` when there is no key.
        """
        info = self.key_info()
        return {"provider": self.scheme, "key_id": info.key_id, "version": info.current}

    @abstractmethod
    def wrap(self, key: bytes, aad: bytes, args: Mapping[str, Any]) -> bytes:
        """Encrypt a 32-byte key under the key version named by ``args``, binding ``aad``.

        Raises :class:`KmsKeyMissing` when there is no key.
        """

    @abstractmethod
    def unwrap(self, blob: bytes, aad: bytes, args: Mapping[str, Any]) -> bytes:
        """Decrypt what :meth:`wrap` returned.

        Raises :class:`KmsKeyMissing` when there is no key at all, and :class:`UnlockFailed` on
        any other failure: a wrong ``aad``, an altered blob, another key, or a version that was
        retired (the message may name the key id and version: both are public).
        """

    @abstractmethod
    def rotate(self) -> int:
        """Roll in a new current version (older ones still unwrap); return its number.

        Raises :class:`KmsKeyMissing` when there is no key.
        """

    @abstractmethod
    def retire(self, below: int) -> tuple[int, ...]:
        """Drop every version numbered below ``below``; return their numbers, ascending.

        Blobs wrapped under a dropped version no longer unwrap (:class:`UnlockFailed` naming
        the version), so a leaked old copy of the key is worth nothing for envelopes re-sealed
        since (rotate, re-wrap every custodian envelope, then retire). Never drops the current
        version: ``below`` above it raises :class:`PolicyViolation`. Versions already gone
        are not reported again, so retiring twice returns ``()`` the second time. Raises
        :class:`KmsKeyMissing` when there is no key.
        """


def version_not_held(
    key: str, version: int, kept: Collection[int], holder: str, hint: str
) -> UnlockFailed:
    """The error for an envelope sealed under a version of ``key`` that ``holder`` does not keep.

    Versions are numbered up from 1 and :meth:`KmsProvider.retire` drops the lowest ones, so a
    number below the lowest kept one was retired; any other comes from a newer copy of the key
    than ``holder`` (``hint`` says how that happens to this provider). Public facts only.
    """
    lowest = min(kept)
    if version < lowest:
        return UnlockFailed(
            f"this envelope was sealed under version {version} of {key}, which was retired: "
            f"{holder} keeps versions {lowest} and above"
        )
    return UnlockFailed(
        f"this envelope was sealed under version {version} of {key}, which {holder} does not "
        f"hold ({hint})"
    )


__all__ = [
    "FINGERPRINT_LABEL",
    "KeyInfo",
    "KmsKeyMissing",
    "KmsProvider",
    "key_fingerprint",
    "version_not_held",
]
