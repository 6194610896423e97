"""Deleting obsolete remote key material, only when no backup the device trusts needs it.

Every revision the device writes gets a :class:`~.memory.Plan` first: the material it makes
obsolete if it lands, and the material it orphans if it does not. The plan is settled when the
device learns the outcome (promote, abandon, confirm), or later from an authenticated current
envelope after a crash. Only then do its items join the queue, and a failed deletion stays
queued for the next operation. Never discarded: an item whose stanza is in a revision the device
has authenticated as live.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from walletbackup.envelope import Envelope
from walletbackup.methods import BackupMethod, MethodContext

from .memory import DeviceMemory, DiscardItem, WalletMemory

log = logging.getLogger("walletbackup")


def item(method: str, args: dict[str, object], ctx: MethodContext) -> DiscardItem:
    return DiscardItem(
        method,
        dict(args),
        {
            "wallet_id": ctx.wallet_id,
            "backup_set_id": ctx.backup_set_id,
            "envelope_id": ctx.envelope_id,
            "stanza_id": ctx.stanza_id,
        },
    )


def items_of(env: Envelope) -> list[DiscardItem]:
    """The material of every method stanza of an envelope (to trust only once authenticated)."""
    return [
        item(
            s.type,
            dict(s.args),
            MethodContext(
                env.context.wallet_id,
                env.context.backup_set_id.hex(),
                env.envelope_id.hex(),
                s.id.hex(),
            ),
        )
        for s in env.stanzas
    ]


def settle(
    memory: WalletMemory,
    revision: int,
    landed: bool,
    live: Collection[str] = (),
    *,
    dead: bool = True,
) -> None:
    """Queue what the plan of ``revision`` frees, now that its outcome is known.

    A revision that did not land is remembered as dead: no one may make it current later. That
    includes the pinned revision itself: a store writer can show the device a pending revision
    as current (a confirmation made elsewhere looks no different), but when this device then
    abandons or denies it, its own word is the one to keep. ``dead=False``: the custodian
    refused this proposal because another device's change holds the number, which may land.
    """
    if not landed and dead and revision >= memory.pin and revision not in memory.dead:
        memory.dead.append(revision)
    plan = memory.plans.pop(revision, None)
    if plan is None:
        return
    if landed:
        memory.trust(revision, plan.stanzas)
    freed = plan.on_success if landed else plan.on_failure
    memory.queue += [i for i in freed if i.context["stanza_id"] not in live]


def supersede(
    memory: WalletMemory, base: int, revision: int, pending: int | None, live: Collection[str]
) -> None:
    """Settle what proposing ``revision`` on ``base`` decided for the device's other revisions.

    The custodian holds one pending revision, promotes only that one, and never moves its
    current back, so none of them but ``base`` can become current any more, whatever a store
    writer showed or hid: the pending one just superseded and any open plan above the base did
    not land. One below the base may have landed and been built on (its material live in the
    base), so only its number is retired here; its plan waits for an authenticated current.
    """
    above = {r for r in memory.plans if r > base} | ({pending} if pending is not None else set())
    for old in sorted(above - {revision}):
        settle(memory, old, landed=False, live=live)
    for old in memory.plans:
        if old < base and old >= memory.pin and old not in memory.dead:
            memory.dead.append(old)


def learn(memory: WalletMemory, current: Envelope, pending: int | None) -> None:
    """Remember an authenticated current envelope, and settle the plans an interrupted process
    left: the current revision's landed, every other one's (but the pending) did not."""
    material = items_of(current)
    memory.trust(current.context.revision, material)
    live = {i.context["stanza_id"] for i in material}
    for revision in sorted(memory.plans):
        if revision != pending:
            settle(memory, revision, landed=revision == current.context.revision, live=live)


def run(
    device: DeviceMemory,
    location: str | None,
    wallet_id: str,
    method_for: Callable[[str], BackupMethod],
) -> None:
    """Delete what the wallet's queue holds; what fails stays queued for the next operation."""
    if not device.read(location, wallet_id).queue:
        return
    with device.edit(location, wallet_id) as memory:
        queue, memory.queue = memory.queue, []
    remaining = []
    for entry in queue:
        try:
            method_for(entry.method).discard(entry.args, MethodContext(**entry.context))
        except Exception as exc:
            log.warning(
                "could not discard %s key material (will retry): %s",
                entry.method,
                type(exc).__name__,
            )
            remaining.append(
                DiscardItem(
                    entry.method,
                    entry.args,
                    entry.context,
                    entry.attempts + 1,
                    type(exc).__name__,
                )
            )
    if remaining:
        with device.edit(location, wallet_id) as memory:
            memory.queue = remaining + memory.queue
