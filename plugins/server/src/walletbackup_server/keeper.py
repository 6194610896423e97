"""The self-managed custodian share, kept by the tenant's backend through its webhook.

For a wallet backed up in self-managed mode, when its tenant has a webhook, the service hands
the custodian envelope it sealed under its KMS to the backend (``POST {URL}/backup``) and asks
for it back when it needs it (``POST {URL}/backup/fetch``). The envelope is opaque to the
backend, and bound by its sealed context to the wallet and revision; the core keeps its SHA-256
and refuses anything else that comes back (:class:`walletbackup.custodian.EnvelopeKeeper`).
"""

from __future__ import annotations

from walletbackup.canonical import b64decode, b64encode
from walletbackup.envelope import MAX_ENVELOPE
from walletbackup.errors import MalformedBackup, StorageError, WalletBackupError

from .delivery import Delivery, why
from .tenant_webhooks import TenantWebhooks, Webhook


class WebhookKeeper:
    """An envelope keeper for the core's :class:`~walletbackup.Custodian`, by tenant webhook.

    Wallet ids are the service's keys, ``tenant/user/wallet``.
    """

    def __init__(self, webhooks: TenantWebhooks, delivery: Delivery) -> None:
        self.webhooks = webhooks
        self.delivery = delivery

    def keeps(self, wallet_id: str, mode: str) -> bool:
        return mode == "self-managed" and self.webhooks.find(wallet_id.split("/", 1)[0]) is not None

    def put(self, wallet_id: str, revision: int, blob: bytes) -> None:
        webhook, fields = self._target(wallet_id, revision)
        try:
            self.delivery.post(
                webhook,
                "/backup",
                fields | {"custodian_envelope": b64encode(blob)},
                "store the custodian share",
            )
        except WalletBackupError as exc:
            raise StorageError(
                f"the application's backend did not store the custodian share ({why(exc)}); "
                "the previous backup is unchanged"
            ) from None

    def get(self, wallet_id: str, revision: int) -> bytes:
        webhook, fields = self._target(wallet_id, revision)
        try:
            answer = self.delivery.post(
                webhook, "/backup/fetch", fields, "give back the custodian share"
            )
        except WalletBackupError as exc:
            raise StorageError(
                f"the application's backend did not give back the custodian share ({why(exc)})"
            ) from None
        try:
            if not isinstance(answer, dict) or set(answer) != {"custodian_envelope"}:
                raise MalformedBackup("not an object with custodian_envelope")
            return b64decode(answer["custodian_envelope"], range(1, MAX_ENVELOPE + 1))
        except MalformedBackup:
            raise StorageError(
                "the application's backend answered /backup/fetch with something other than "
                '{"custodian_envelope": BASE64URL}'
            ) from None

    def _target(self, wallet_id: str, revision: int) -> tuple[Webhook, dict[str, object]]:
        tenant, user, device_wallet = wallet_id.split("/", 2)
        webhook = self.webhooks.find(tenant)
        if webhook is None:
            raise StorageError(
                f"tenant {tenant!r} has no webhook, and its backend keeps this custodian share "
                "(walletbackup server set-webhook)"
            )
        return webhook, {"user": user, "wallet_id": device_wallet, "revision": revision}


__all__ = ["WebhookKeeper"]
