"""The bulk loader: valid wallet records and audit records, written fast through the Store API.

:func:`make_records` seals, for each wallet ``wallet-NNNNNN``, what a first managed backup with
``benchpass`` leaves in the store: a record of schema 2 with revision 1 current, its client
envelope (format v2, 32-byte random shares, the share commitment, one ``benchpass`` stanza) and
its custodian envelope sealed under the real local KMS key, and the stanza's status. Every
wallet recovers with ``recover_wallet(w, method="benchpass", passphrase=PASSPHRASE)`` and takes
method changes. To be fast, every wallet's stanza has the same salt and stanza id (so one method
secret and one recipient key serve all: stanza ids need only be unique within an envelope),
and the work is spread over the CPU cores; what is sealed per wallet is real (about 0.5 ms).

:func:`load` writes records and :data:`EVENTS` audit events per wallet (a backup, a verification,
a recovery, at times spread over the past year) through the Store API, all in one operation, so
the store makes them durable once, at the end. The file store would fsync every file it writes,
which makes 100,000 wallets a matter of minutes: during its load the per-file fsyncs are
skipped and one sync(2) is run at the end. The files are the store's own; only when they reach
the disk changes.
"""

from __future__ import annotations

import os
import unittest.mock
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from bench_methods import PASS, derive

from walletbackup import canonical, envelope
from walletbackup.envelope import Context, KmsRecipient, Recipient
from walletbackup.kms import KmsProvider
from walletbackup.kms.local import LocalKms
from walletbackup.state import Revision, StanzaRef, WalletRecord, now
from walletbackup.stores import FileStore, Store

PASSPHRASE = "bench passphrase"
SALT = "5a" * 16
STANZA_ID = bytes.fromhex("0123456789abcdef0123456789abcdef")
EVENTS = 3
_CHUNK = 2000


def wallet_id(number: int) -> str:
    return f"wallet-{number:06d}"


def _recipient() -> Recipient:
    secret = derive(PASS, PASSPHRASE, SALT)
    return Recipient.from_secret(PASS, STANZA_ID, {"salt": SALT}, secret)


def _seal_range(
    kms_url: str, first: int, count: int, provider: type[KmsProvider] = LocalKms
) -> list[bytes]:
    kms = provider(kms_url)
    args = kms.stanza_args()
    recipient = _recipient()
    documents = []
    for number in range(first, first + count):
        wallet = wallet_id(number)
        client, custodian = os.urandom(32), os.urandom(32)
        commitment = envelope.share_commitment(client, custodian)
        backup_set, envelope_id = os.urandom(16), os.urandom(32)
        client_envelope, _ = envelope.seal(
            Context(wallet, backup_set, "client", 1, 1, commitment),
            client,
            [recipient],
            envelope_id=envelope_id,
        )
        custodian_envelope, _ = envelope.seal(
            Context(wallet, backup_set, "custodian", 1, 1, commitment),
            custodian,
            [KmsRecipient(os.urandom(16), args, kms)],
        )
        revision = Revision(
            revision=1,
            backup_set_id=backup_set.hex(),
            key_epoch=1,
            client_envelope_id=envelope_id.hex(),
            client_envelope=client_envelope,
            custodian_envelope=custodian_envelope,
            stanzas=[StanzaRef(STANZA_ID.hex(), PASS)],
            created_at=now(),
            reason=PASS,
        )
        record = WalletRecord(wallet, "managed", current=revision, last_revision=1, last_epoch=1)
        record.set_status(revision, "stored")
        documents.append(record.to_bytes())
    return documents


def make_records(
    count: int, kms_url: str, provider: type[KmsProvider] = LocalKms
) -> list[tuple[str, bytes]]:
    """``count`` wallets' ids and documents, sealed on every core (the KMS key must exist).

    The custodian envelopes are sealed by ``provider`` (the local KMS unless told otherwise).
    """
    starts = range(0, count, _CHUNK)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        parts = pool.map(
            _seal_range,
            [kms_url] * len(starts),
            starts,
            [min(_CHUNK, count - s) for s in starts],
            [provider] * len(starts),
        )
        documents = [document for part in parts for document in part]
    return [(wallet_id(n), documents[n]) for n in range(count)]


def events(wallets: Sequence[str]) -> Iterator[tuple[bytes, str, datetime]]:
    """:data:`EVENTS` audit events per wallet, oldest first, over the year before now."""
    kinds = ("backup", "verify", "recover")
    total = EVENTS * len(wallets)
    start = datetime.now(UTC) - timedelta(days=365)
    step = timedelta(days=364) / max(total, 1)
    for n in range(total):
        wallet, at = wallets[n % len(wallets)], start + step * n
        event = {
            "at": at.isoformat(timespec="seconds"),
            "method": PASS,
            "mode": "managed",
            "outcome": "ok",
            "type": kinds[n // len(wallets) % len(kinds)],
            "wallet_id": wallet,
        }
        yield canonical.dumps(event), wallet, at


@contextmanager
def _deferred_fsync(store: Store) -> Iterator[None]:
    if not isinstance(store, FileStore):
        yield
        return
    with unittest.mock.patch.object(os, "fsync", return_value=None):
        yield
    os.sync()


def load(store: Store, records: Sequence[tuple[str, bytes]]) -> None:
    """Write ``records`` and their audit events into ``store`` (see the module docstring)."""
    with _deferred_fsync(store), store.operation():
        for wallet, document in records:
            store.save(wallet, document)
        for record, wallet, at in events([wallet for wallet, _ in records]):
            store.append_audit(record, wallet_id=wallet, at=at)
