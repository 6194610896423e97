"""Rate limits on recovery and eject, per user and per source address, shared by every replica.

Each limited route names the *group* it counts against (:data:`ROUTE_GROUPS`, keyed by the
route's OpenAPI operation id), and each group has a :class:`Rate` per user (tenant and user) and
per source address. The counters are documents in the server's state store, so every replica
against one database counts into the same windows: one limit, however many replicas serve it.

A counter is a *sliding window* of two fixed windows (the current one and the one before, its
count weighted by how much of it still overlaps the last ``seconds``): as cheap as a fixed
window (one small document per key, updated under the key's lock) without letting a client
spend twice the limit across a window boundary. A window that is over is replaced when its key
is next met; :meth:`RateLimiter.sweep` deletes the ones nobody met again.

The source address is the peer's, or, when the peer is one of the configured trusted proxies,
the rightmost address in ``X-Forwarded-For`` that is not a trusted proxy (what the last proxy
we trust saw; anything left of it the client may have written itself).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from walletbackup.errors import PolicyViolation

from .state import ServerState

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Which group each limited route counts against, by the route's OpenAPI operation id. A
#: limited route's handler calls ``Service.limit`` with its id (the device routes through
#: ``wallets.wallet(request, limit=ID)``); a new limited route adds its line here.
ROUTE_GROUPS: Mapping[str, str] = {
    "view": "recovery",
    "check": "recovery",
    "custodian_share": "release",
    "eject_prepare": "eject",
    "eject": "eject",
    "eject_cancel": "eject",
}
#: The two kinds of key a request is counted under (also the ``key`` label of the metric).
KIND_USER, KIND_SOURCE = "user", "source"
KINDS = (KIND_USER, KIND_SOURCE)
#: Document keys of the counters: ``rate/GROUP/KIND/<sha256 of the key>``.
PREFIX = "rate/"
_UNITS = {"s": 1, "second": 1, "minute": 60, "hour": 3600, "day": 86_400}
_RATE = re.compile(r"([0-9]{1,9})/([0-9]{0,9})(s|second|minute|hour|day)")
#: The longest address kept as a source key: anything longer is not an address.
MAX_SOURCE = 64


@dataclass(frozen=True)
class Rate:
    """At most ``count`` requests in any ``seconds``."""

    count: int
    seconds: int

    def __post_init__(self) -> None:
        if type(self.count) is not int or self.count < 1:
            raise PolicyViolation("a rate's count is an integer of at least 1")
        if type(self.seconds) is not int or not 1 <= self.seconds <= _UNITS["day"]:
            raise PolicyViolation("a rate's period is from 1 second to 1 day")

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """``"30/minute"``, ``"5/hour"``, ``"100/10s"``, or ``"off"`` (no limit: ``None``)."""
        if text == "off":
            return None
        match = _RATE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise PolicyViolation(
                f"a rate is COUNT/PERIOD (e.g. 30/minute, 5/hour, 100/10s) or off, not {text!r}"
            )
        count, times, unit = match.groups()
        return cls(int(count), int(times or 1) * _UNITS[unit])

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}s"


@dataclass(frozen=True)
class GroupLimits:
    """A group's limit per user and per source address (``None``: not limited by that key)."""

    per_user: Rate | None
    per_source: Rate | None

    def rate(self, kind: str) -> Rate | None:
        return self.per_user if kind == KIND_USER else self.per_source


#: The defaults: a device reads its wallet a few times per recovery, so 30 a minute is far
#: above any honest use and far below what an offline guessing attack on the cipher text it
#: hands out would want; a tenant's node serves many users from one address.
DEFAULT_LIMITS: Mapping[str, GroupLimits] = {
    "recovery": GroupLimits(Rate(30, 60), Rate(300, 60)),
    "release": GroupLimits(Rate(30, 60), Rate(3000, 60)),
    "eject": GroupLimits(Rate(5, 3600), Rate(50, 3600)),
}


def limits_from_config(table: object) -> dict[str, GroupLimits]:
    """The config file's ``[rate_limits]`` table over :data:`DEFAULT_LIMITS`.

    ``{group: {"per_user": RATE, "per_source": RATE}}``, either key optional.
    """
    if not isinstance(table, dict):
        raise PolicyViolation("rate_limits is a table of groups")
    limits = dict(DEFAULT_LIMITS)
    for group, given in table.items():
        if group not in DEFAULT_LIMITS:
            raise PolicyViolation(
                f"rate_limits: no group {group!r} (groups: {', '.join(DEFAULT_LIMITS)})"
            )
        if not isinstance(given, dict) or not set(given) <= {"per_user", "per_source"}:
            raise PolicyViolation(f"rate_limits.{group} takes per_user and per_source")
        limit = limits[group]
        limits[group] = GroupLimits(
            Rate.parse(given["per_user"]) if "per_user" in given else limit.per_user,
            Rate.parse(given["per_source"]) if "per_source" in given else limit.per_source,
        )
    return limits


def networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Trusted proxies: addresses or networks (``10.0.0.0/8``, ``::1``)."""
    found = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except (TypeError, ValueError):
            raise PolicyViolation(
                f"a trusted proxy is an IP address or network (10.0.0.0/8), not {entry!r}"
            ) from None
    return tuple(found)


def source_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str:
    """Who sent the request: the peer, or the rightmost untrusted hop a trusted proxy names.

    ``forwarded_for`` holds the ``X-Forwarded-For`` header values in the order received.
    """
    if peer is None:
        return "unknown"
    if not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop[:MAX_SOURCE]
    # Every hop is one of ours (or none was named): the leftmost is the closest to the client.
    return hops[0][:MAX_SOURCE] if hops else peer


def _trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


@dataclass(frozen=True)
class Refusal:
    """A request over a limit: which key kind refused it, and when to retry (whole seconds)."""

    kind: str
    retry_after: int


class RateLimiter:
    """Counts requests in ``state`` against ``limits``; ``clock`` is wall-clock seconds.

    Replicas share the windows through the state store, so their clocks must agree (NTP) to
    within a small part of the shortest period.
    """

    def __init__(
        self,
        state: ServerState,
        limits: Mapping[str, GroupLimits],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.limits = limits
        self.clock = clock
        self._swept = clock()
        self._sweeping = threading.Lock()

    def limited(self, group: str) -> bool:
        """Whether ``group`` has a limit by any key (else :meth:`hit` would count nothing)."""
        limit = self.limits[group]
        return limit.per_user is not None or limit.per_source is not None

    def hit(self, group: str, keys: Sequence[tuple[str, str]]) -> Refusal | None:
        """Count one request of ``group`` under each ``(kind, key)``, in order.

        The first key over its limit refuses the request (it is not counted there, nor under
        the keys after it), so a source over its limit does not spend its victims' budgets.
        """
        limit = self.limits[group]
        for kind, key in keys:
            rate = limit.rate(kind)
            if rate is None:
                continue
            retry = self._count(f"{PREFIX}{group}/{kind}/{_digest(key)}", rate)
            if retry is not None:
                return Refusal(kind, retry)
        self._maybe_sweep()
        return None

    def sweep(self) -> int:
        """Delete the counters whose windows are all over; return how many."""
        now = self.clock()
        removed = 0
        for key in list(self.state.keys(PREFIX)):
            with self.state.lock(key):
                document = self.state.load(key)
                if document is not None and _over(document, now):
                    self.state.delete(key)
                    removed += 1
        return removed

    def _count(self, key: str, rate: Rate) -> int | None:
        now = self.clock()
        start = math.floor(now / rate.seconds) * rate.seconds
        with self.state.lock(key):
            document = self.state.load(key)
            current, previous = _counts(document, start, rate.seconds)
            elapsed = now - start
            estimate = previous * (1 - elapsed / rate.seconds) + current
            if estimate + 1 > rate.count:
                return _retry_after(now, start, rate, current, previous)
            self.state.save(
                key,
                {"start": start, "seconds": rate.seconds, "count": current + 1,
                 "previous": previous},
            )  # fmt: skip
        return None

    def _maybe_sweep(self) -> None:
        """Now and then (once per longest period, per process), :meth:`sweep`."""
        period = max(
            (r.seconds for g in self.limits.values() for r in (g.per_user, g.per_source) if r),
            default=3600,
        )
        if self.clock() - self._swept < period or not self._sweeping.acquire(blocking=False):
            return
        try:
            self._swept = self.clock()
            self.sweep()
        finally:
            self._sweeping.release()


def _counts(document: dict[str, Any] | None, start: int, seconds: int) -> tuple[int, int]:
    """The counts of the current window and the one before it, from a counter document."""
    if document is None or document.get("seconds") != seconds:
        return 0, 0
    if document["start"] == start:
        return int(document["count"]), int(document["previous"])
    if document["start"] == start - seconds:
        return 0, int(document["count"])
    return 0, 0


def _over(document: dict[str, Any], now: float) -> bool:
    seconds = document.get("seconds")
    start = document.get("start")
    if type(seconds) is not int or type(start) is not int:
        return True
    return start + 2 * seconds <= now


def _retry_after(now: float, start: int, rate: Rate, current: int, previous: int) -> int:
    """Seconds until one more request fits: the earlier window's weight decays linearly."""
    room = rate.count - 1
    if current <= room:
        # This window has room once the earlier window's share has decayed enough.
        at = start + rate.seconds * (1 - (room - current) / previous)
    else:
        # Only in the next window, once this window's share of it has decayed enough.
        at = start + rate.seconds + rate.seconds * (1 - room / current)
    return max(1, math.ceil(at - now))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


__all__ = [
    "DEFAULT_LIMITS",
    "KINDS",
    "KIND_SOURCE",
    "KIND_USER",
    "ROUTE_GROUPS",
    "GroupLimits",
    "Rate",
    "RateLimiter",
    "Refusal",
    "limits_from_config",
    "networks",
    "source_address",
]
