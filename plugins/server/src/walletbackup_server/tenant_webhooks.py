"""Each tenant's webhook: its URL and signing secret, the secret sealed under the custodian's KMS.

``walletbackup server set-webhook TENANT URL`` makes a new secret and prints it once; the
server state keeps it only wrapped by the KMS (associated data naming the tenant, so one
tenant's wrapped secret does not unwrap as another's), in the document ``webhook/TENANT``.
Setting a webhook again replaces the URL and the secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from walletbackup.canonical import b64decode, b64encode
from walletbackup.errors import BackupNotFound, MalformedBackup, PolicyViolation
from walletbackup.kms import KmsProvider

from .auth import check_tenant_id
from .state import ServerState
from .webhooks import SECRET_PREFIX

SECRET_BYTES = 32
_AAD = b"walletbackup-server webhook secret/"
MAX_URL = 2048


@dataclass(frozen=True)
class Webhook:
    """Where a tenant's backend listens, and the secret its requests are signed with."""

    tenant: str
    url: str
    secret: str = field(repr=False)


class TenantWebhooks:
    """The tenants' webhooks kept in ``state``, their secrets wrapped by ``kms``."""

    def __init__(self, state: ServerState, kms: KmsProvider) -> None:
        self.state = state
        self.kms = kms

    def set(self, tenant: str, url: str) -> str:
        """Send ``tenant``'s webhook requests to ``url``; return the new secret (shown once)."""
        key = f"webhook/{check_tenant_id(tenant)}"
        if self.state.load(f"tenant/{tenant}") is None:
            raise BackupNotFound(f"there is no tenant {tenant!r}")
        raw = os.urandom(SECRET_BYTES)
        args = self.kms.stanza_args()
        wrapped = self.kms.wrap(raw, _AAD + tenant.encode(), args)
        with self.state.lock(key):
            self.state.save(
                key,
                {
                    "url": check_url(url),
                    "secret": b64encode(wrapped),
                    "kms": args,
                    "set_at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
        return _text(raw)

    def find(self, tenant: str) -> Webhook | None:
        """``tenant``'s webhook, its secret unwrapped; ``None`` when it has none."""
        document = self.state.load(f"webhook/{tenant}")
        if document is None:
            return None
        try:
            wrapped = b64decode(document["secret"])
            url, args = document["url"], document["kms"]
        except (KeyError, TypeError, ValueError, MalformedBackup):
            raise MalformedBackup(f"the webhook document of tenant {tenant!r} is corrupt") from None
        raw = self.kms.unwrap(wrapped, _AAD + tenant.encode(), args)
        return Webhook(tenant, url, _text(raw))


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host and nothing that could carry a secret
    (no user info, query or fragment: the service appends ``/backup`` and the like)."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if (
        not port_ok
        or len(url) > MAX_URL
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
    ):
        raise PolicyViolation(
            "a webhook URL is http(s)://HOST[:PORT][/PATH], with no user, query or fragment"
        )
    return url.rstrip("/")


def _text(raw: bytes) -> str:
    return SECRET_PREFIX + b64encode(raw)


__all__ = ["TenantWebhooks", "Webhook", "check_url"]
