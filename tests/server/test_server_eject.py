"""Eject: prepare, wait the delay, take the custodian share; cancellable; audited and announced."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest
from quick_methods import PASS
from service_http import bearer
from webhook_receiver import receiving

from walletbackup import (
    PolicyViolation,
    UnlockFailed,
    WalletBackup,
    WalletBackupError,
    envelope,
    protocol,
)
from walletbackup.protocol import Released
from walletbackup_server import Settings
from walletbackup_server.config import ServerConfig
from walletbackup_server.tenant_webhooks import TenantWebhooks

DELAY = 3600


@pytest.fixture
def server_settings() -> Settings:
    return Settings(eject_delay_seconds=DELAY, webhook_timeout_seconds=0.5, webhook_attempts=1)


@pytest.fixture
def alice(world):
    """alice's wallet ``w`` at revision 1 (custodian share ``s``*32); her Authorization header."""
    with world.device() as wb:
        wb.backup_wallet("w", b"c" * 32, method=PASS, passphrase="pw", custodian_share=b"s" * 32)
    return bearer(world.creds["alice"])


@pytest.fixture
def backend(world):
    with receiving() as receiver:
        receiver.secret = TenantWebhooks(world.state, world.custodian.kms).set("acme", receiver.url)
        yield receiver


def _time_passes(world, key: str = "acme/alice/w") -> None:
    """The eject delay of ``key``'s request is over (as if DELAY seconds went by)."""
    document = world.state.load(f"eject/{key}")
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat(timespec="seconds")
    world.state.save(f"eject/{key}", document | {"not_before": past})


def _events(world, kind: str) -> list[dict]:
    return [e for e in world.custodian.audit_log("acme/alice/w") if e["type"] == kind]


def test_prepare_wait_eject(world, alice, backend):
    before = datetime.now(UTC)
    prepared = world.client.post("/v1/wallets/w/eject/prepare", json={}, headers=alice)
    assert prepared.status_code == 202
    assert prepared.json()["revision"] == 1
    not_before = datetime.fromisoformat(prepared.json()["not_before"])
    assert before + timedelta(seconds=DELAY) <= not_before <= before + timedelta(seconds=DELAY + 2)

    early = world.client.post("/v1/wallets/w/eject", json={}, headers=alice)
    assert early.status_code == 409
    assert early.json()["error"] == "eject_not_ready"
    assert prepared.json()["not_before"] in early.json()["message"]

    # Asked again, the request stands as it was: the clock is neither restarted nor shortened.
    again = world.client.post("/v1/wallets/w/eject/prepare", json={}, headers=alice)
    assert again.json() == prepared.json()

    _time_passes(world)
    ejected = world.client.post("/v1/wallets/w/eject", json={}, headers=alice)
    assert ejected.status_code == 200
    released = protocol.from_json(Released, ejected.json())
    assert (released.wallet_id, released.revision, released.share) == ("w", 1, b"s" * 32)

    assert [e["outcome"] for e in _events(world, "eject_prepare")] == ["ok", "ok"]
    assert [e["outcome"] for e in _events(world, "eject")] == ["failed", "ok"]
    assert _events(world, "eject")[0]["error"] == "EjectNotReady"
    done = _events(world, "eject")[1]
    assert (done["tenant"], done["user"], done["revision"], done["webhook"]) == (
        "acme", "alice", 1, "delivered",
    )  # fmt: skip
    assert [(e["type"], e["user"], e["wallet_id"], e["revision"]) for e in backend.events] == [
        ("eject.prepared", "alice", "w", 1),
        ("eject.prepared", "alice", "w", 1),
        ("eject.completed", "alice", "w", 1),
    ]
    assert {e["not_before"] for e in backend.events[:2]} == {prepared.json()["not_before"]}
    assert backend.refused == []


def test_an_eject_after_the_real_delay(world, alice):
    world.app.state.ejects.delay = timedelta(seconds=1)
    prepared = world.client.post("/v1/wallets/w/eject/prepare", json={}, headers=alice).json()
    wait = datetime.fromisoformat(prepared["not_before"]) - datetime.now(UTC)
    time.sleep(max(0.0, wait.total_seconds()) + 0.05)
    ejected = world.client.post("/v1/wallets/w/eject", json={}, headers=alice)
    assert ejected.status_code == 200
    assert _events(world, "eject")[-1]["webhook"] == "none"  # acme has no webhook here


def test_cancel(world, alice, backend):
    world.client.post("/v1/wallets/w/eject/prepare", json={}, headers=alice)
    cancelled = world.client.delete("/v1/wallets/w/eject", headers=alice)
    assert cancelled.status_code == 204
    assert world.state.load("eject/acme/alice/w") is None
    refused = world.client.post("/v1/wallets/w/eject", json={}, headers=alice)
    assert (refused.status_code, refused.json()["error"]) == (409, "eject_not_ready")
    # Cancelling again changes nothing and records nothing more.
    assert world.client.delete("/v1/wallets/w/eject", headers=alice).status_code == 204
    assert [e["outcome"] for e in _events(world, "eject_cancel")] == ["ok"]
    assert [e["type"] for e in backend.events] == ["eject.prepared", "eject.cancelled"]


def test_a_new_revision_makes_the_request_stale(world, alice):
    world.client.post("/v1/wallets/w/eject/prepare", json={}, headers=alice)
    with world.device() as wb:
        wb.add_backup_method(
            "w", PASS, unlock_with={"method": PASS, "passphrase": "pw"}, passphrase="two"
        )
    assert world.custodian.view("acme/alice/w").current.revision == 2
    _time_passes(world)
    stale = world.client.post("/v1/wallets/w/eject", json={}, headers=alice)
    assert (stale.status_code, stale.json()["error"]) == (409, "stale")
    assert "prepare the eject again" in stale.json()["message"]
    # Prepared again, it names the new revision and waits the whole delay again.
    again = world.client.post("/v1/wallets/w/eject/prepare", json={}, headers=alice)
    assert again.json()["revision"] == 2
    assert world.client.post("/v1/wallets/w/eject", json={}, headers=alice).status_code == 409


def test_a_backend_that_does_not_take_the_event_does_not_stop_the_eject(world, alice, backend):
    backend.fail("/events", "500", times=2)
    prepared = world.client.post("/v1/wallets/w/eject/prepare", json={}, headers=alice)
    assert prepared.status_code == 202
    _time_passes(world)
    assert world.client.post("/v1/wallets/w/eject", json={}, headers=alice).status_code == 200
    assert [e["webhook"] for e in _events(world, "eject_prepare")] == ["failed"]
    assert [e["webhook"] for e in _events(world, "eject") if e["outcome"] == "ok"] == ["failed"]


def test_no_wallet_no_eject(world):
    headers = bearer(world.creds["alice"])
    for method, path in (("POST", "/eject/prepare"), ("POST", "/eject"), ("DELETE", "/eject")):
        body = None if method == "DELETE" else {}
        answer = world.client.request(method, f"/v1/wallets/none{path}", json=body, headers=headers)
        assert (answer.status_code, answer.json()["error"]) == (404, "not_found")


def test_a_device_cannot_report_an_eject_event(world, alice):
    answer = world.client.post(
        "/v1/audit", json={"event": {"type": "eject", "wallet_id": "w"}}, headers=alice
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "malformed")
    assert _events(world, "eject") == []


def test_the_delay_comes_from_the_config_file(tmp_path):
    config = tmp_path / "server.toml"
    config.write_text("eject_delay_seconds = 60\n")
    from walletbackup_server.config import load

    assert load(str(config)).settings().eject_delay_seconds == 60
    assert ServerConfig().settings().eject_delay_seconds == 86_400


def test_a_device_ejects_both_shares_through_the_python_api(world, alice):
    """prepare_eject, the delay, eject_wallet: both shares, the custodian's checked against the
    commitment of the authenticated client envelope."""
    with world.device() as wb:
        request = wb.prepare_eject("w")
        assert request.revision == 1
        with pytest.raises(WalletBackupError, match="eject"):  # the delay is not over
            wb.eject_wallet("w", method=PASS, passphrase="pw")
        _time_passes(world)
        ejected = wb.eject_wallet("w", method=PASS, passphrase="pw")
        assert (ejected.client_share, ejected.custodian_share) == (b"c" * 32, b"s" * 32)
        assert envelope.share_commitment_matches(
            ejected.client_share, ejected.custodian_share, ejected.share_commitment
        )
        with pytest.raises(UnlockFailed):  # the client share still needs its method secret
            wb.eject_wallet("w", method=PASS, passphrase="wrong")


def test_a_device_cancels_its_eject(world, alice):
    with world.device() as wb:
        wb.prepare_eject("w")
        wb.cancel_eject("w")
        with pytest.raises(PolicyViolation, match="eject"):  # nothing prepared any more
            wb.eject_wallet("w", method=PASS, passphrase="pw")


def test_an_ejected_share_that_does_not_belong_is_refused(world, alice, monkeypatch):
    """A service (or anyone between) answering another share: the commitment catches it."""
    with world.device() as wb:
        wb.prepare_eject("w")
        _time_passes(world)
        real = type(wb.custodian).eject

        def forged(self, wallet_id):
            return dataclasses.replace(real(self, wallet_id), share=b"f" * 32)

        monkeypatch.setattr(type(wb.custodian), "eject", forged)
        with pytest.raises(UnlockFailed):
            wb.eject_wallet("w", method=PASS, passphrase="pw")


def test_the_embedded_custodian_has_no_eject(tmp_path):
    from walletbackup import PolicyViolation

    with (
        WalletBackup(
            store=f"sqlite://{tmp_path / 's.db'}",
            kms=f"local://{tmp_path / 'k'}",
            device_state=None,
        ) as wb,
        pytest.raises(PolicyViolation, match="custodian service"),
    ):
        wb.prepare_eject("w")
