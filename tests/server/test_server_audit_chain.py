"""The chained audit log: a clean log verifies; every kind of tampering is found where it is.

The tampering is done the way a database writer would: SQL on the SQLite file, behind the
service's back. The verifier runs as the operator would, from the service's config.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from walletbackup import Custodian
from walletbackup_server import ServerState, create_app
from walletbackup_server.auditchain import KEY_DOC, chain_fields, head_key
from walletbackup_server.auditverify import verify_config
from walletbackup_server.cli import server
from walletbackup_server.config import ServerConfig

ALICE, BOB = "acme/alice/w", "acme/bob/w"


@dataclass
class Log:
    config: ServerConfig
    db: Path

    def rows(self, wallet_id: str | None) -> list[tuple[int, bytes]]:
        """``(seq, record)`` of one chain's rows, in seq order."""
        with sqlite3.connect(self.db) as conn:
            query = "SELECT seq, record FROM audit WHERE wallet_id IS ? ORDER BY seq"
            return [(seq, bytes(record)) for seq, record in conn.execute(query, (wallet_id,))]

    def sql(self, statement: str, *args: object) -> None:
        conn = sqlite3.connect(self.db)
        with conn:
            conn.execute(statement, args)
        conn.close()

    def breaks(self, **options: object) -> list[tuple[int | None, str | None, str]]:
        report = verify_config(self.config, **options)  # type: ignore[arg-type]
        return [(b.seq, b.wallet_id, b.kind) for b in report.breaks]


def custodian_for(config: ServerConfig) -> Custodian:
    """A custodian as the service runs it: its store wrapped by the app."""
    custodian = Custodian(store=config.store, kms=config.kms)
    state = ServerState.open(config.state_url())
    create_app(custodian, state)
    return custodian


def write(custodian: Custodian, wallet_id: str | None, count: int) -> None:
    for number in range(count):
        event = {"type": "backup" if wallet_id else "rotate_kms", "outcome": "ok", "n": number}
        custodian.audit(event | ({"wallet_id": wallet_id} if wallet_id else {}))


@pytest.fixture
def log(tmp_path: Path) -> Log:
    config = ServerConfig(
        store=f"sqlite://{tmp_path / 'custodian.db'}",
        kms=f"local://{tmp_path / 'custodian.key'}",
        state=f"sqlite://{tmp_path / 'state.db'}",
    )
    custodian = custodian_for(config)
    custodian.kms.create_key()
    for _ in range(2):
        write(custodian, ALICE, 3)
        write(custodian, BOB, 1)
        write(custodian, None, 1)
    custodian.close()
    return Log(config, tmp_path / "custodian.db")


def test_a_clean_log_verifies_with_its_counts_and_heads(log):
    report = verify_config(log.config)
    assert report.ok
    assert report.records == 10
    chains = {c.wallet_id: (c.records, c.first, c.last) for c in report.chains}
    assert chains == {ALICE: (6, 0, 5), BOB: (2, 0, 1), None: (2, 0, 1)}
    alice = verify_config(log.config, wallet_id=ALICE)
    assert alice.ok and [c.wallet_id for c in alice.chains] == [ALICE]

    result = CliRunner().invoke(server, ["verify-audit", *options(log)])
    assert result.exit_code == 0, result.output
    assert "audit chains OK: 3 chain(s), 10 record(s)" in result.output
    assert f"heads digest: {report.heads_digest()}" in result.output
    as_json = CliRunner().invoke(server, ["verify-audit", "--json", *options(log)])
    assert json.loads(as_json.output)["ok"] is True


def test_records_carry_their_chain_and_the_key_is_wrapped_by_the_kms(log):
    records = log.rows(ALICE)
    fields = [chain_fields(record) for _, record in records]
    assert [f[0] for f in fields if f] == [0, 1, 2, 3, 4, 5]
    assert fields[0] is not None and fields[0][1] == "0" * 64
    assert all(after[1] == before[2] for before, after in itertools.pairwise(fields))
    state = ServerState.open(log.config.state_url())
    document = state.load(KEY_DOC)
    assert document is not None and set(document) == {"blob", "args"}
    state.close()


def test_an_edited_record_is_found_at_its_seq(log):
    seq, record = log.rows(ALICE)[2]
    log.sql("UPDATE audit SET record = ? WHERE seq = ?", record.replace(b'"ok"', b'"no"'), seq)
    assert log.breaks() == [(seq, ALICE, "edited")]


def test_a_deleted_record_is_missing_before_the_next(log):
    rows = log.rows(ALICE)
    log.sql("DELETE FROM audit WHERE seq = ?", rows[3][0])
    assert log.breaks() == [(rows[4][0], ALICE, "missing")]


def test_two_swapped_records_are_reordered(log):
    (first, one), (second, two) = log.rows(ALICE)[1:3]
    log.sql("UPDATE audit SET record = ? WHERE seq = ?", two, first)
    log.sql("UPDATE audit SET record = ? WHERE seq = ?", one, second)
    assert log.breaks() == [(second, ALICE, "reordered")]


def test_a_truncated_tail_is_found_against_the_head(log):
    rows = log.rows(ALICE)
    log.sql("DELETE FROM audit WHERE seq >= ? AND wallet_id = ?", rows[4][0], ALICE)
    assert log.breaks() == [(None, ALICE, "truncated")]
    report = verify_config(log.config)
    assert "n=4..5 are missing from the end" in report.breaks[0].detail


def test_a_forged_record_is_found_where_it_was_inserted(log):
    _, record = log.rows(ALICE)[-1]
    event = json.loads(record)
    event["chain"] = {"n": 6, "prev": event["chain"]["mac"], "mac": "ab" * 32}
    forged = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
    at = datetime.now(UTC).isoformat()
    log.sql("INSERT INTO audit (wallet_id, at, record) VALUES (?, ?, ?)", ALICE, at, forged)
    log.sql("INSERT INTO audit (wallet_id, at, record) VALUES (?, ?, ?)", BOB, at, b'{"a":1}')
    seq_forged, seq_plain = log.rows(ALICE)[-1][0], log.rows(BOB)[-1][0]
    assert log.breaks() == [(seq_forged, ALICE, "forged"), (seq_plain, BOB, "unchained")]


def test_a_record_moved_to_another_wallet_does_not_verify_there(log):
    seq = log.rows(ALICE)[-1][0]
    log.sql("UPDATE audit SET wallet_id = ? WHERE seq = ?", BOB, seq)
    assert sorted(log.breaks(), key=str) == sorted(
        [(None, ALICE, "truncated"), (seq, BOB, "forged")], key=str
    )


def test_the_command_says_where_it_breaks_and_exits_non_zero(log):
    seq = log.rows(BOB)[0][0]
    log.sql("DELETE FROM audit WHERE seq = ?", seq)
    result = CliRunner().invoke(server, ["verify-audit", *options(log)])
    assert result.exit_code == 11
    assert f"BROKEN seq {log.rows(BOB)[0][0]}, wallet {BOB}: missing: record n=0" in result.output
    assert "audit chains BROKEN (1 break(s))" in result.output


def test_pruned_chains_verify_when_told(log, tmp_path):
    cut = datetime.now(UTC)
    custodian = custodian_for(log.config)
    write(custodian, ALICE, 2)
    write(custodian, None, 1)
    archive = tmp_path / "archive.jsonl"
    with archive.open("wb") as f:
        assert custodian.prune_audit(cut, archive=f) == 10
    custodian.close()
    # Untold, the pruned starts are missing records; bob's whole chain is gone.
    assert set(log.breaks()) == {
        (log.rows(ALICE)[0][0], ALICE, "missing"),
        (log.rows(None)[0][0], None, "missing"),
        (None, BOB, "truncated"),
    }
    assert log.breaks(pruned=True) == []
    assert log.breaks(archives=[str(archive)]) == []
    report = verify_config(log.config, pruned=True)
    assert {c.wallet_id: c.first for c in report.chains} == {ALICE: 6, None: 2, BOB: None}
    result = CliRunner().invoke(server, ["verify-audit", "--archive", str(archive), *options(log)])
    assert result.exit_code == 0, result.output


def test_the_chain_key_survives_a_kms_rotation_and_retirement(log):
    custodian = custodian_for(log.config)
    custodian.kms.rotate()
    write(custodian, ALICE, 1)  # the key is re-wrapped under the new version when first used
    custodian.kms.retire(2)
    custodian.close()
    assert verify_config(log.config).ok


def test_concurrent_writers_on_two_replicas_keep_every_chain_whole(log):
    def replica(wallets: list[str | None]) -> None:
        custodian = custodian_for(log.config)
        for wallet in wallets * 10:
            write(custodian, wallet, 1)
        custodian.close()

    threads = [
        threading.Thread(target=replica, args=([ALICE, BOB],)),
        threading.Thread(target=replica, args=([ALICE, None],)),
        threading.Thread(target=replica, args=([ALICE],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = verify_config(log.config)
    assert report.ok, report.breaks
    assert {c.wallet_id: c.records for c in report.chains} == {ALICE: 36, BOB: 12, None: 12}


def options(log: Log) -> list[str]:
    return [
        "--store", log.config.store, "--kms", log.config.kms, "--state", log.config.state_url()
    ]  # fmt: skip


@pytest.mark.parametrize("written", [True, False])
def test_a_crash_between_the_append_and_the_head_is_settled_by_the_next_append(log, written):
    state = ServerState.open(log.config.state_url())
    where = head_key(ALICE)
    head = state.load(where)
    assert head is not None and head["n"] == 5
    if written:  # the record went in, the head did not move: it still names it as pending
        _, _, mac = chain_fields(log.rows(ALICE)[-2][1]) or (0, "", "")
        _, _, pending = chain_fields(log.rows(ALICE)[-1][1]) or (0, "", "")
        state.save(where, head | {"n": 4, "mac": mac, "seq": log.rows(ALICE)[-2][0],
                                  "pending": {"n": 5, "mac": pending}})  # fmt: skip
        assert verify_config(log.config).ok  # a pending record that was written is the head
    else:  # the head names a record that never went in
        state.save(where, head | {"pending": {"n": 6, "mac": "cd" * 32}})
    state.close()
    _next_append_settles_alices_chain(log)


def _next_append_settles_alices_chain(log: Log) -> None:
    """One more record of Alice's through the service, then the whole log verifies, her chain
    at its sixth record."""
    custodian = custodian_for(log.config)
    write(custodian, ALICE, 1)
    custodian.close()
    report = verify_config(log.config)
    assert report.ok, report.breaks
    assert {c.wallet_id: c.last for c in report.chains}[ALICE] == 6


def test_a_record_written_after_a_head_that_never_moved_is_followed(log):
    """The head's save rolled back with its transaction (PostgreSQL): no pending mark, the head
    one record behind. The next append follows the record its key chained, never a forged one."""
    state = ServerState.open(log.config.state_url())
    where = head_key(ALICE)
    head = state.load(where)
    assert head is not None and head["n"] == 5
    _, _, mac = chain_fields(log.rows(ALICE)[-2][1]) or (0, "", "")
    state.save(where, {"chain": head["chain"], "n": 4, "mac": mac, "seq": log.rows(ALICE)[-2][0]})
    state.close()
    _next_append_settles_alices_chain(log)
