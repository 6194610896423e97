"""Walk the audit chains and say where each breaks (``walletbackup server verify-audit``).

The records of a chain are taken in the store's order (``seq``). A record whose MAC verifies
was written by the service; one whose MAC does not was changed or made by someone else. From
the records that verify, ordered by their index ``n``, every gap is a missing record, every
record that comes (by ``seq``) after one with a higher ``n`` was moved, and a chain that ends
before its head document says was cut short. A record that does not verify but sits where a
record is missing is that record *edited*; one that fills no gap is *forged*.

Pruning removes each chain's oldest records, so a chain then starts at an ``n`` above 0. The
verifier accepts that when told: ``pruned=True`` (the start is reported, to compare with the
archive), or the archive files themselves, whose records are verified as the chains' first part.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from walletbackup import Custodian, canonical
from walletbackup.errors import MalformedBackup, StorageError
from walletbackup.stores import Store

from .auditchain import (
    GENESIS,
    HEAD_PREFIX,
    SERVICE_CHAIN,
    ChainKey,
    chain_fields,
    chain_of,
    head_key,
    record_mac,
)
from .config import ServerConfig
from .state import ServerState

#: What can be wrong, as reported in :attr:`Break.kind`.
KINDS = ("edited", "missing", "reordered", "truncated", "forged", "duplicate", "unchained", "head")


@dataclass(frozen=True)
class Record:
    """One record to verify: its place in the log, its wallet (``None``: service) and bytes."""

    seq: int
    wallet_id: str | None
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Break:
    """Where a chain breaks: the record's ``seq`` (``None`` for the tail), the wallet, what."""

    seq: int | None
    wallet_id: str | None
    kind: str
    detail: str

    def text(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "tail"
        return f"{where}, {_name(self.wallet_id)}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    """One chain as verified: how many records, where it starts and ends (its head)."""

    wallet_id: str | None
    records: int
    first: int | None
    last: int | None
    head_mac: str | None


@dataclass
class Report:
    chains: list[ChainReport]
    breaks: list[Break]

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def records(self) -> int:
        return sum(chain.records for chain in self.chains)

    def heads_digest(self) -> str:
        """SHA-256 over every chain's head: one value to anchor outside the databases."""
        lines = sorted(
            f"{c.wallet_id if c.wallet_id is not None else ''}\0{c.last}\0{c.head_mac}"
            for c in self.chains
        )
        return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "heads_digest": self.heads_digest(),
            "chains": [
                {
                    "wallet": c.wallet_id,
                    "records": c.records,
                    "first": c.first,
                    "last": c.last,
                    "head_mac": c.head_mac,
                }
                for c in self.chains
            ],
            "breaks": [
                {"seq": b.seq, "wallet": b.wallet_id, "kind": b.kind, "detail": b.detail}
                for b in self.breaks
            ],
        }


def store_records(store: Store, wallet_id: str | None = None) -> Iterator[Record]:
    """The records in ``store`` (one wallet's, or all), oldest first."""
    for entry in store.audit_records(wallet_id):
        yield Record(entry.seq, entry.wallet_id, entry.record)


def archive_records(lines: Iterable[bytes], wallet_id: str | None = None) -> Iterator[Record]:
    """The records of an archive ``walletbackup prune-audit --archive`` wrote (JSON lines)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = canonical.loads(line.rstrip(b"\n"))
            seq = record.pop("seq")
        except (MalformedBackup, AttributeError, KeyError):
            raise StorageError(f"archive line {number} is not an archived audit record") from None
        wallet = record.get("wallet_id") if isinstance(record.get("wallet_id"), str) else None
        if wallet_id is None or wallet == wallet_id:
            yield Record(seq, wallet, canonical.dumps(record))


def verify(
    records: Iterable[Record],
    state: ServerState,
    key: bytes | None,
    *,
    wallet_id: str | None = None,
    pruned: bool = False,
) -> Report:
    """Verify the chains of ``records`` (in ``seq`` order) against the heads in ``state``.

    With ``wallet_id``, only that wallet's chain (and its head). ``key`` is the chain key
    (``None`` when none was ever made: then every record is unchained).
    """
    chains: dict[str, list[Record]] = {}
    for record in records:
        chains.setdefault(chain_of(record.wallet_id), []).append(record)
    heads = _heads(state, wallet_id)
    reports, breaks = [], []
    for chain in sorted(set(chains) | set(heads)):
        report, found = _verify_chain(
            chain, chains.get(chain, []), heads.get(chain), key, pruned=pruned
        )
        reports.append(report)
        breaks.extend(found)
    breaks.sort(key=lambda b: (b.seq is None, b.seq or 0, b.wallet_id or ""))
    return Report(reports, breaks)


@dataclass(frozen=True)
class _Link:
    seq: int
    n: int
    prev: str
    mac: str


def _verify_chain(
    chain: str,
    records: list[Record],
    head: dict[str, Any] | None,
    key: bytes | None,
    *,
    pruned: bool,
) -> tuple[ChainReport, list[Break]]:
    check = _Chain(chain, key)
    check.read(records)
    check.order()
    ordered = check.links(pruned=pruned)
    last = ordered[-1] if ordered else None
    check.tail(head, last, pruned=pruned)
    report = ChainReport(
        check.wallet,
        len(records),
        ordered[0].n if ordered else None,
        None if last is None else last.n,
        None if last is None else last.mac,
    )
    return report, check.breaks


class _Chain:
    """One chain's checks, in the order the module docstring gives; :attr:`breaks` collects."""

    def __init__(self, chain: str, key: bytes | None) -> None:
        self.chain = chain
        self.key = key
        self.wallet = None if chain == SERVICE_CHAIN else chain
        self.breaks: list[Break] = []
        self.valid: list[_Link] = []
        #: records whose MAC does not verify, with what they claim to be
        self.claims: list[_Link] = []
        self.by_n: dict[int, _Link] = {}

    def broken(self, seq: int | None, kind: str, detail: str) -> None:
        self.breaks.append(Break(seq, self.wallet, kind, detail))

    def read(self, records: list[Record]) -> None:
        for record in records:
            fields = chain_fields(record.data)
            if fields is None or self.key is None:
                self.broken(record.seq, "unchained", "no chain: the service did not write it")
                continue
            link = _Link(record.seq, *fields)
            event = canonical.loads(record.data)
            event["chain"] = {"n": link.n, "prev": link.prev}
            good = hmac.compare_digest(record_mac(self.key, self.chain, event), link.mac)
            (self.valid if good else self.claims).append(link)

    def order(self) -> None:
        """Reordered: a record stored after one that comes later in the chain."""
        highest: _Link | None = None
        for link in self.valid:
            if highest is not None and link.n < highest.n:
                self.broken(
                    link.seq, "reordered", f"record n={link.n} is stored after n={highest.n} "
                    f"(seq {highest.seq})"
                )  # fmt: skip
            elif highest is None or link.n > highest.n:
                highest = link
            if link.n in self.by_n:
                self.broken(link.seq, "duplicate", f"record n={link.n} repeats seq "
                            f"{self.by_n[link.n].seq}")  # fmt: skip
            else:
                self.by_n[link.n] = link

    def links(self, *, pruned: bool) -> list[_Link]:
        """Gaps (missing or edited records), links that do not follow, forged records."""
        claimed = {link.n: link for link in self.claims}
        explained: set[int] = set()
        ordered = sorted(self.by_n.values(), key=lambda link: link.n)
        if ordered and ordered[0].n == 0 and ordered[0].prev != GENESIS:
            self.broken(ordered[0].seq, "forged", "the first record does not start the chain")
        if ordered and ordered[0].n > 0 and not pruned:
            explained |= self.gap(0, ordered[0], claimed, "at the start")
        for before, after in itertools.pairwise(ordered):
            if after.n > before.n + 1:
                explained |= self.gap(before.n + 1, after, claimed, "before this record")
            elif after.prev != before.mac:
                self.broken(after.seq, "forged", f"record n={after.n} does not follow n={before.n}")
        for link in self.claims:
            if link.n not in explained:
                self.broken(link.seq, "forged", f"the record (claiming n={link.n}) has a MAC "
                            "that does not verify and fills no gap in the chain")  # fmt: skip
        return ordered

    def gap(self, low: int, upto: _Link, claimed: dict[int, _Link], where: str) -> set[int]:
        """Records ``low`` to just before ``upto``: edited (a record that fails claims the
        place) or missing; returns the indexes the failing records explain."""
        explained: set[int] = set()
        missing: list[int] = []
        for n in range(low, upto.n):
            if n in claimed:
                explained.add(n)
                self.broken(
                    claimed[n].seq, "edited", f"record n={n}'s MAC does not match its bytes"
                )
            else:
                missing.append(n)
        if missing:
            span = f"n={missing[0]}" if len(missing) == 1 else f"n={missing[0]}..{missing[-1]}"
            self.broken(upto.seq, "missing", f"record {span} is missing {where}")
        return explained

    def tail(self, head: dict[str, Any] | None, last: _Link | None, *, pruned: bool) -> None:
        """The chain's end against its head document: cut short, or not the head's record.

        A chain with no record left at all is whole when told it was pruned."""
        head_n, head_mac = _head_end(head, self.by_n)
        if head is None:
            if last is not None:
                self.broken(None, "head", "the chain has no head document")
            return
        if head_n is None or (last is None and pruned):
            return
        if last is None or head_n > last.n:
            since = 0 if last is None else last.n + 1
            self.broken(None, "truncated", f"records n={since}..{head_n} are missing from the end")
        elif head_n < last.n:
            self.broken(None, "head", f"the head says n={head_n}, the chain goes on to n={last.n}")
        elif head_mac != last.mac:
            self.broken(last.seq, "head", f"the head's MAC is not record n={last.n}'s")


def verify_config(
    config: ServerConfig,
    *,
    wallet_id: str | None = None,
    pruned: bool = False,
    archives: Iterable[str] = (),
) -> Report:
    """Verify the chains of the service ``config`` describes (its store, state and KMS)."""
    custodian = Custodian(store=config.store, kms=config.kms)
    state = ServerState.open(config.state_url())
    try:
        key = ChainKey(state, custodian.kms).existing()
        records: list[Record] = []
        for path in archives:
            with open(path, "rb") as archive:
                records.extend(archive_records(archive, wallet_id))
        records.extend(store_records(custodian.store, wallet_id))
        return verify(records, state, key, wallet_id=wallet_id, pruned=pruned)
    finally:
        state.close()
        custodian.close()


def _head_end(head: dict[str, Any] | None, by_n: dict[int, _Link]) -> tuple[int | None, str | None]:
    """The head's last ``n`` and MAC, or its pending record's when that record was written."""
    if head is None:
        return None, None
    pending = head.get("pending")
    if isinstance(pending, dict):
        written = by_n.get(pending.get("n", -1))
        if written is not None and written.mac == pending.get("mac"):
            return written.n, written.mac
    return head.get("n"), head.get("mac")


def _heads(state: ServerState, wallet_id: str | None) -> dict[str, dict[str, Any]]:
    keys = [head_key(wallet_id)] if wallet_id is not None else list(state.keys(HEAD_PREFIX))
    heads = {}
    for key in keys:
        document = state.load(key)
        if document is not None and isinstance(document.get("chain"), str):
            heads[document["chain"]] = document
    return heads


def _name(wallet_id: str | None) -> str:
    return "service events" if wallet_id is None else f"wallet {wallet_id}"


__all__ = [
    "KINDS",
    "Break",
    "ChainReport",
    "Record",
    "Report",
    "archive_records",
    "store_records",
    "verify",
    "verify_config",
]
