"""Eject, in two steps: the device asks (``prepare``), and after a delay takes the custodian share.

The delay is the owner's window to notice an eject they did not ask for (a stolen device, a
leaked token) and cancel it: every step is audited through the core's audit (and so its
``audit_event`` hook) and announced to the tenant's backend as a signed webhook event. An eject
request names the wallet's current revision; once another revision is current the request is
stale, and the device must prepare again and wait again.

Requests are documents ``eject/<wallet key>`` in the server state: ``revision``,
``not_before`` and ``prepared_at``.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from walletbackup import Custodian
from walletbackup.audit import audited
from walletbackup.errors import BackupNotFound, StaleBackup, WalletBackupError
from walletbackup.protocol import Released

from .delivery import Delivery, why
from .errors import EjectNotReady
from .keys import device_wallet_id
from .state import ServerState
from .tenant_webhooks import TenantWebhooks

log = logging.getLogger("walletbackup.server.eject")
EVENTS = {"prepare": "eject.prepared", "cancel": "eject.cancelled", "eject": "eject.completed"}


class Ejects:
    """Eject requests of the wallets ``custodian`` holds (keys ``tenant/user/wallet``)."""

    def __init__(
        self,
        custodian: Custodian,
        state: ServerState,
        webhooks: TenantWebhooks,
        delivery: Delivery,
        delay_seconds: int,
    ) -> None:
        self.custodian = custodian
        self.state = state
        self.webhooks = webhooks
        self.delivery = delivery
        self.delay = timedelta(seconds=delay_seconds)

    def prepare(self, key: str) -> dict[str, Any]:
        """Ask to eject the wallet's current revision; ``{"revision", "not_before"}``.

        Asked again for the same revision, the request stands as it was (its clock is not
        restarted, nor shortened).
        """
        with audited(self.custodian, "eject_prepare", key, **_who(key)) as event:
            revision = self._current(key)
            document_key = f"eject/{key}"
            with self.state.lock(document_key):
                request = self.state.load(document_key)
                if request is None or request.get("revision") != revision:
                    request = {
                        "revision": revision,
                        "not_before": _text(_ceil(_now() + self.delay)),
                        "prepared_at": _text(_now()),
                    }
                    self.state.save(document_key, request)
            event |= {"revision": revision, "not_before": request["not_before"]}
            event["webhook"] = self._announce("prepare", key, request)
        return {"revision": revision, "not_before": request["not_before"]}

    def eject(self, key: str) -> Released:
        """The custodian share of the prepared revision, once its delay has passed."""
        with audited(self.custodian, "eject", key, **_who(key)) as event:
            request = self.state.load(f"eject/{key}")
            if request is None:
                self._current(key)  # no such wallet: 404, as for every other route
                raise EjectNotReady(
                    "no eject was prepared for this wallet: POST .../eject/prepare, then eject "
                    "after the delay"
                )
            revision, not_before = request["revision"], request["not_before"]
            event |= {"revision": revision, "not_before": not_before}
            if _now() < datetime.fromisoformat(not_before):
                raise EjectNotReady(f"the eject of this wallet may happen from {not_before}")
            current = self._current(key)
            if current != revision:
                raise StaleBackup(
                    f"the eject was prepared for revision {revision}, and revision {current} is "
                    "current now: prepare the eject again"
                )
            released = self.custodian.release(key, revision)
            event["webhook"] = self._announce("eject", key, request)
        return released

    def cancel(self, key: str) -> None:
        """Withdraw the wallet's eject request, if it has one."""
        self._current(key)
        document_key = f"eject/{key}"
        with self.state.lock(document_key):
            request = self.state.load(document_key)
            if request is None:
                return
            self.state.delete(document_key)
        with audited(
            self.custodian,
            "eject_cancel",
            key,
            **_who(key),
            revision=request["revision"],
            not_before=request["not_before"],
        ) as event:
            event["webhook"] = self._announce("cancel", key, request)

    def _current(self, key: str) -> int:
        view = self.custodian.view(key)
        if view is None or view.current is None:
            raise BackupNotFound(f"there is no backup for wallet {device_wallet_id(key)!r}")
        return view.current.revision

    def _announce(self, step: str, key: str, request: dict[str, Any]) -> str:
        """Tell the tenant's backend: ``delivered``, ``failed`` (logged) or ``none`` (no webhook).

        A backend that does not answer does not stop an eject: the audit records it.
        """
        tenant, user, wallet_id = key.split("/", 2)
        kind = EVENTS[step]
        try:
            webhook = self.webhooks.find(tenant)
            if webhook is None:
                return "none"
            self.delivery.post(
                webhook,
                "/events",
                {
                    "type": kind,
                    "user": user,
                    "wallet_id": wallet_id,
                    "revision": request["revision"],
                    "not_before": request["not_before"],
                },
                f"take the {kind} event",
            )
        except WalletBackupError as exc:
            log.warning(
                "the %s event could not be delivered to tenant %s: %s", kind, tenant, why(exc)
            )
            return "failed"
        return "delivered"


def _who(key: str) -> dict[str, str]:
    tenant, user, _ = key.split("/", 2)
    return {"tenant": tenant, "user": user}


def _now() -> datetime:
    return datetime.now(UTC)


def _ceil(at: datetime) -> datetime:
    """``at`` rounded up to a whole second (what :func:`_text` writes is then never early)."""
    return datetime.fromtimestamp(math.ceil(at.timestamp()), UTC)


def _text(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


__all__ = ["EVENTS", "Ejects"]
