"""Who is asking: tenants, their credentials, user tokens, and the role each one carries.

Three kinds of bearer credential, each 32 random bytes in base64url behind a prefix naming its
kind: ``wbk_`` (the tenant's backend), ``wbc_`` (the tenant's custodian node, its MPC node) and
``wbu_`` (a device: one user of one tenant, until it expires). Only SHA-256 of a credential is
kept, as the key of its document (``credential/<hex>``), so the service finds a credential by
its hash and a copy of the state store gives nobody a working credential. A 256-bit random
secret needs no slow hash: nobody can guess one, so nothing is gained by making a guess cost more.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from walletbackup.errors import BackupNotFound, PolicyViolation

from .errors import ApiError
from .state import ServerState

ROLES = ("backend", "custodian", "device")
PREFIXES = {"backend": "wbk_", "custodian": "wbc_", "device": "wbu_"}
SECRET_BYTES = 32
TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
USER_ID = re.compile(r"[A-Za-z0-9._@+-]{1,128}")
CREDENTIAL_ID = re.compile(r"[0-9a-f]{16}")
_CREDENTIAL = re.compile(r"wb[kcu]_[A-Za-z0-9_-]{43}")
#: What a ``ttl_seconds`` may ask for a user token.
MIN_TTL, MAX_TTL = 60, 86_400


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its tenant, its role and (devices only) its user."""

    tenant: str
    role: str
    user: str | None


@dataclass(frozen=True)
class Issued:
    """A credential just made: its secret (shown once), public id, and expiry (tokens)."""

    secret: str = ""
    credential_id: str = ""
    expires_at: str | None = None

    def __repr__(self) -> str:
        return f"Issued(credential_id={self.credential_id!r}, expires_at={self.expires_at!r})"


def digest(credential: str) -> str:
    return hashlib.sha256(credential.encode("ascii")).hexdigest()


def check_tenant_id(name: str) -> str:
    if not isinstance(name, str) or not TENANT_ID.fullmatch(name):
        raise PolicyViolation(
            "a tenant name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit"
        )
    return name


def is_user_id(user: object) -> bool:
    return isinstance(user, str) and USER_ID.fullmatch(user) is not None


class Tenants:
    """The tenants and credentials kept in a :class:`ServerState`."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    # --- administration (the operator's commands) ------------------------------------------

    def add_tenant(self, name: str) -> tuple[Issued, Issued]:
        """Create tenant ``name``; return its backend key and custodian credential."""
        key = f"tenant/{check_tenant_id(name)}"
        with self.state.lock(key):
            if self.state.load(key) is not None:
                raise PolicyViolation(f"tenant {name!r} exists already")
            document: dict[str, Any] = {
                "id": name,
                "created_at": _text(_now()),
                "credentials": [],
            }
            backend = self._issue_credential(document, "backend")
            custodian = self._issue_credential(document, "custodian")
            self.state.save(key, document)
            return backend, custodian

    def add_credential(self, tenant: str, role: str) -> Issued:
        """A new backend key or custodian credential for ``tenant``."""
        if role not in ("backend", "custodian"):
            raise PolicyViolation("a tenant credential's role is backend or custodian")
        key = f"tenant/{check_tenant_id(tenant)}"
        with self.state.lock(key):
            document = self._tenant(tenant)
            issued = self._issue_credential(document, role)
            self.state.save(key, document)
            return issued

    def _issue_credential(self, tenant: dict[str, Any], role: str) -> Issued:
        """Make a credential, save its document, list it in ``tenant`` (saved by the caller).

        The credential's document is written first: a crash in between leaves a credential
        nobody ever saw, never a listed one that does not work.
        """
        issued = _issue(role)
        hashed = digest(issued.secret)
        self.state.save(
            f"credential/{hashed}",
            {"tenant": tenant["id"], "role": role, "id": issued.credential_id},
        )
        tenant["credentials"].append(
            {
                "id": issued.credential_id,
                "role": role,
                "sha256": hashed,
                "created_at": _text(_now()),
            }
        )
        return issued

    def revoke_credential(self, tenant: str, credential_id: str) -> None:
        """Revoke one backend key or custodian credential by its public id."""
        key = f"tenant/{check_tenant_id(tenant)}"
        with self.state.lock(key):
            document = self._tenant(tenant)
            found = [c for c in document["credentials"] if c["id"] == credential_id]
            if not found:
                raise BackupNotFound(f"tenant {tenant!r} has no credential {credential_id!r}")
            self.state.delete(f"credential/{found[0]['sha256']}")
            document["credentials"] = [c for c in document["credentials"] if c not in found]
            self.state.save(key, document)

    def tenants(self) -> list[dict[str, Any]]:
        """Every tenant with its credentials' ids, roles and dates (no secret, no hash)."""
        listing = []
        for key in self.state.keys("tenant/"):
            document = self.state.load(key)
            if document is None:
                continue
            credentials = [
                {"id": c["id"], "role": c["role"], "created_at": c["created_at"]}
                for c in document["credentials"]
            ]
            listing.append(
                {
                    "id": document["id"],
                    "created_at": document["created_at"],
                    "credentials": credentials,
                }
            )
        return listing

    def _tenant(self, tenant: str) -> dict[str, Any]:
        document = self.state.load(f"tenant/{tenant}")
        if document is None:
            raise BackupNotFound(f"there is no tenant {tenant!r}")
        return document

    # --- the service ------------------------------------------------------------------------

    def mint_token(self, tenant: str, user: str, ttl_seconds: int) -> Issued:
        """A device token for ``user`` of ``tenant``, valid ``ttl_seconds``."""
        issued = _issue("device")
        expires = _now() + timedelta(seconds=ttl_seconds)
        issued = Issued(issued.secret, issued.credential_id, _text(expires))
        self.state.save(
            f"credential/{digest(issued.secret)}",
            {
                "tenant": tenant,
                "role": "device",
                "user": user,
                "id": issued.credential_id,
                "expires_at": issued.expires_at,
            },
        )
        return issued

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller an ``Authorization`` header names; :class:`ApiError` 401 when none.

        One message for every refusal, so a caller learns nothing about which credentials
        exist. An expired token's document is deleted when it is met.
        """
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not _CREDENTIAL.fullmatch(credential):
            raise _unauthenticated()
        key = f"credential/{digest(credential)}"
        document = self.state.load(key)
        if document is None or PREFIXES.get(document.get("role", "")) != credential[:4]:
            raise _unauthenticated()
        expires_at = document.get("expires_at")
        if expires_at is not None and datetime.fromisoformat(expires_at) <= _now():
            self.state.delete(key)
            raise _unauthenticated()
        return Principal(document["tenant"], document["role"], document.get("user"))


def _issue(role: str) -> Issued:
    raw = base64.urlsafe_b64encode(os.urandom(SECRET_BYTES)).rstrip(b"=").decode("ascii")
    return Issued(PREFIXES[role] + raw, secrets.token_hex(8))


def _unauthenticated() -> ApiError:
    return ApiError(
        "unauthenticated",
        "a valid credential is needed: Authorization: Bearer <key or token>",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _text(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


__all__ = [
    "MAX_TTL",
    "MIN_TTL",
    "ROLES",
    "Issued",
    "Principal",
    "Tenants",
    "check_tenant_id",
    "digest",
    "is_user_id",
]
