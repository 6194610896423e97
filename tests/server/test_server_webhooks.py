"""Self-managed custodian shares kept by the tenant's backend, through signed webhooks.

The backend is a loopback receiver (tests/fixtures/webhook_receiver.py) that checks every
request with ``verify_request`` and injects faults. A failing webhook refuses the backup with
503 ``unavailable``, keeps no pending revision, and leaves the previous backup recoverable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

import pytest
from quick_methods import PASS
from service_http import bearer
from webhook_receiver import receiving

from walletbackup import WalletBackup, protocol
from walletbackup.canonical import b64decode
from walletbackup.errors import BackupNotFound, PolicyViolation, StorageError, UnlockFailed
from walletbackup.protocol import Proposal, Released
from walletbackup_server import Settings
from walletbackup_server.tenant_webhooks import TenantWebhooks
from walletbackup_server.webhooks import WebhookRejected, signed_headers, verify_request

SECRET = "wbw_" + "s" * 43


@pytest.fixture
def server_settings() -> Settings:
    return Settings(webhook_timeout_seconds=0.5, webhook_attempts=2)


@pytest.fixture
def backend(world):
    """Tenant acme's backend, its webhook set (and its secret given to the receiver)."""
    with receiving() as receiver:
        receiver.hang = 1.5
        receiver.secret = TenantWebhooks(world.state, world.custodian.kms).set("acme", receiver.url)
        yield receiver


def device(world, mode: str = "self-managed", user: str = "alice") -> WalletBackup:
    return world.device(user, mode=mode)


def node_share(world, wallet: str, revision: int) -> bytes:
    """The custodian share as the tenant's node gets it."""
    path = f"/v1/users/alice/wallets/{wallet}/revisions/{revision}/custodian-share"
    answer = world.client.get(path, headers=bearer(world.creds["custodian"]))
    assert answer.status_code == 200, answer.text
    return protocol.from_json(Released, answer.json()).share


def back_up(wb: WalletBackup, wallet: str, share: bytes, passphrase: str = "pw") -> bytes:
    result = wb.backup_wallet(
        wallet, b"client " + share, method=PASS, passphrase=passphrase, custodian_share=share
    )
    wb.stored_client_backup_share(wallet, PASS, success=True)
    return result.cipher_text


# --- the receiver's side: verify_request -------------------------------------------------------


def _signed(body: dict, secret: str = SECRET, at: float | None = None) -> tuple[dict, bytes]:
    data = json.dumps(body).encode()
    return signed_headers(secret, data, at=at), data


def test_verify_request_accepts_a_signed_request_once():
    headers, body = _signed({"event_id": "e1", "user": "alice"})
    seen: set[str] = set()
    lowered = {k.lower(): v for k, v in headers.items()}
    assert verify_request(SECRET, lowered, body, seen=seen) == {"event_id": "e1", "user": "alice"}
    assert seen == {"e1"}
    with pytest.raises(WebhookRejected) as replay:
        verify_request(SECRET, headers, body, seen=seen)
    assert replay.value.reason == "replay"


@pytest.mark.parametrize(
    ("case", "reason"),
    [("other secret", "signature"), ("edited body", "signature"), ("no headers", "signature"),
     ("old", "stale"), ("future", "stale"), ("not json", "malformed"),
     ("no event id", "malformed")],
)  # fmt: skip
def test_verify_request_refuses(case, reason):
    body = {"event_id": "e1"}
    headers, data = {
        "other secret": lambda: _signed(body, "wbw_" + "o" * 43),
        "edited body": lambda: (_signed(body)[0], b'{"event_id": "e2"}'),
        "no headers": lambda: ({}, json.dumps(body).encode()),
        "old": lambda: _signed(body, at=time.time() - 301),
        "future": lambda: _signed(body, at=time.time() + 301),
        "not json": lambda: (signed_headers(SECRET, b"[1"), b"[1"),
        "no event id": lambda: _signed({"id": 1}),
    }[case]()
    seen: set[str] = set()
    with pytest.raises(WebhookRejected) as refused:
        verify_request(SECRET, headers, data, seen=seen)
    assert refused.value.reason == reason
    assert SECRET not in str(refused.value)
    assert seen == set()


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    headers, body = _signed({"event_id": "e"}, at=1_700_000_000)
    mac = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers == {
        "X-Walletbackup-Timestamp": "1700000000",
        "X-Walletbackup-Signature": f"v1={mac}",
    }


# --- the tenant's webhook configuration ------------------------------------------------------


def test_the_secret_is_kept_sealed_under_the_kms(world):
    webhooks = TenantWebhooks(world.state, world.custodian.kms)
    secret = webhooks.set("acme", "https://backend.example/hooks/")
    assert secret.startswith("wbw_")
    document = world.state.load("webhook/acme")
    assert secret not in json.dumps(document)
    found = webhooks.find("acme")
    assert (found.url, found.secret) == ("https://backend.example/hooks", secret)
    assert secret not in repr(found)
    assert webhooks.find("other") is None
    # Bound to its tenant: acme's wrapped secret does not open as another tenant's.
    world.state.save("webhook/other", document)
    with pytest.raises(UnlockFailed):
        webhooks.find("other")


@pytest.mark.parametrize(
    "url",
    ["ftp://h/x", "http://", "https://user:pw@h/x", "https://h/x?token=1", "https://h/#f",
     "file:///etc/passwd", "https://h:99999/", "https://[::1/"],
)  # fmt: skip
def test_a_webhook_url_must_be_plain_http_or_https(world, url):
    with pytest.raises(PolicyViolation):
        TenantWebhooks(world.state, world.custodian.kms).set("acme", url)


def test_a_webhook_needs_a_tenant(world):
    with pytest.raises(BackupNotFound):
        TenantWebhooks(world.state, world.custodian.kms).set("nobody", "https://h/")


# --- the custodian share through the backend ---------------------------------------------------


def test_a_self_managed_share_is_kept_by_the_backend(world, backend):
    wb = device(world)
    cipher_text = back_up(wb, "w", b"s" * 32)
    assert list(backend.envelopes) == [("alice", "w", 1)]
    envelope = b64decode(backend.envelopes["alice", "w", 1])
    assert b"s" * 32 not in envelope  # sealed under the service's KMS: opaque to the backend
    record = json.loads(world.custodian.store.load("acme/alice/w"))
    assert record["current"]["custodian_envelope"] is None
    assert record["current"]["custodian_sha256"] == hashlib.sha256(envelope).hexdigest()
    assert backend.refused == []

    recovered = wb.recover_wallet("w", method=PASS, passphrase="pw", cipher_text=cipher_text)
    assert recovered.client_share == b"client " + b"s" * 32
    assert node_share(world, "w", 1) == b"s" * 32  # fetched back from the backend
    assert backend.count("/backup/fetch") >= 1
    # Every request named the device's own wallet id and user, never the service's key.
    bodies = [json.loads(r.body) for r in backend.received]
    assert {(b["user"], b["wallet_id"]) for b in bodies} == {("alice", "w")}
    assert len({b["event_id"] for b in bodies}) == len(bodies)


def test_managed_wallets_and_other_tenants_do_not_use_the_webhook(world, backend):
    back_up_managed = device(world, mode="managed")
    back_up_managed.backup_wallet(
        "m", b"c" * 32, method=PASS, passphrase="pw", custodian_share=b"m" * 32
    )
    with world.device("carol", mode="self-managed") as wb:
        back_up(wb, "w", b"o" * 32)
    assert backend.received == []
    for key in ("acme/alice/m", "other/carol/w"):
        assert json.loads(world.custodian.store.load(key))["current"]["custodian_envelope"]


def _proposal(world, base: int, revision: int, share: bytes) -> dict:
    view = world.custodian.view("acme/alice/w")
    current = view.current
    return protocol.to_json(
        Proposal(
            wallet_id="w",
            mode="self-managed",
            base_revision=base,
            revision=revision,
            backup_set_id=current.backup_set_id,
            key_epoch=current.key_epoch + 1,
            share_commitment=b"c" * 32,
            client_envelope_id="ab" * 32,
            client_envelope=None,
            stanzas=current.stanzas,
            new_stanzas=(),
            reason=PASS,
            custodian_share=share,
        )
    )


@pytest.mark.parametrize(("fault", "requests"), [("500", 2), ("timeout", 2), ("wrong secret", 1)])
def test_a_failing_webhook_refuses_the_backup_and_keeps_the_previous(
    world, backend, fault, requests
):
    wb = device(world)
    cipher_text = back_up(wb, "w", b"1" * 32)
    before = world.custodian.view("acme/alice/w")
    sent = backend.count("/backup")
    if fault == "wrong secret":
        right, backend.secret = backend.secret, "wbw_" + "x" * 43  # the service signs with another
    else:
        backend.fail("/backup", fault, times=requests)

    answer = world.client.post(
        "/v1/wallets/w/proposals",
        json=_proposal(world, 1, 2, b"2" * 32),
        headers=bearer(world.creds["alice"]),
    )
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "unavailable"
    assert "the application's backend did not store the custodian share" in answer.json()["message"]
    assert backend.secret not in answer.text
    # 5xx and timeouts are retried, a refusal (4xx) is not.
    assert backend.count("/backup") - sent == requests
    if fault == "wrong secret":
        assert backend.refused == ["signature"]
    assert world.custodian.view("acme/alice/w") == before  # no pending revision kept

    # Through a device: the backup fails, the status is honest, the previous backup recovers.
    # (The device retries a 503 too: every attempt of every retry fails here.)
    backend.fail("/backup", fault if fault != "wrong secret" else "500", times=100)
    with pytest.raises(StorageError, match="backend did not store the custodian share"):
        wb.backup_wallet("w", b"client 3", method=PASS, passphrase="new", custodian_share=b"3" * 32)
    view = world.custodian.view("acme/alice/w")
    assert view.current.revision == 1 and view.pending is None
    assert [s.status for s in wb.backup_status("w")] == ["stored"]
    if fault == "wrong secret":
        backend.secret = right
    backend.heal()
    recovered = wb.recover_wallet("w", method=PASS, passphrase="pw", cipher_text=cipher_text)
    assert recovered.client_share == b"client " + b"1" * 32
    assert node_share(world, "w", 1) == b"1" * 32


def test_a_passing_timeout_is_retried(world, backend):
    backend.fail("/backup", "timeout")
    wb = device(world)
    cipher_text = back_up(wb, "w", b"s" * 32)
    assert backend.count("/backup") == 2
    assert wb.recover_wallet("w", method=PASS, passphrase="pw", cipher_text=cipher_text)


def test_a_replayed_request_is_refused_by_the_receiver(world, backend):
    back_up(device(world), "w", b"s" * 32)
    first = next(r for r in backend.received if r.path == "/backup")
    request = urllib.request.Request(
        backend.url + "/backup", data=first.body, headers=first.headers, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 409
    refused.value.close()
    assert backend.refused == ["replay"]


@pytest.mark.parametrize("fault", ["tamper", "other_wallet"])
def test_an_envelope_that_is_not_the_one_sealed_is_refused(world, backend, fault):
    wb = device(world)
    cipher_text = back_up(wb, "w", b"s" * 32)
    back_up(wb, "v", b"v" * 32)
    node = bearer(world.creds["custodian"])
    backend.fail("/backup/fetch", fault, times=100)  # every retry of the service and the device
    share = world.client.get("/v1/users/alice/wallets/w/revisions/1/custodian-share", headers=node)
    assert share.status_code == 503
    assert "not the one sealed for it" in share.json()["message"]
    check = world.client.post(
        "/v1/wallets/w/revisions/1/check", json={}, headers=bearer(world.creds["alice"])
    )
    assert check.status_code == 503
    with pytest.raises(StorageError):
        wb.recover_wallet("w", method=PASS, passphrase="pw", cipher_text=cipher_text)
    backend.heal()
    share = world.client.get("/v1/users/alice/wallets/w/revisions/1/custodian-share", headers=node)
    assert protocol.from_json(Released, share.json()).share == b"s" * 32


def test_a_backend_that_lost_the_share(world, backend):
    back_up(device(world), "w", b"s" * 32)
    backend.envelopes.clear()
    share = world.client.get(
        "/v1/users/alice/wallets/w/revisions/1/custodian-share",
        headers=bearer(world.creds["custodian"]),
    )
    assert share.status_code == 503
    assert "did not give back the custodian share" in share.json()["message"]
    assert "HTTP 404" in share.json()["message"]
