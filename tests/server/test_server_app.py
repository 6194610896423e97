"""The app's edges: its OpenAPI document, limits, path checks, metrics and access log."""

from __future__ import annotations

import json
import logging

import pytest
from quick_methods import PASS
from service_http import bearer
from starlette.routing import Route

from walletbackup.errors import StorageError
from walletbackup_server.observe import template
from walletbackup_server.openapi import OPERATIONS, document


def test_every_route_is_documented_and_every_document_route_exists(world):
    served = {
        (method.lower(), template({"route": route}))
        for route in world.app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    paths = world.client.get("/openapi.json").json()["paths"]
    documented = {(method, path) for path, item in paths.items() for method in item}
    assert served == documented
    assert documented == {(op.method, op.path) for op in OPERATIONS}
    assert world.client.get("/openapi.json").json() == document()


def test_every_error_status_is_documented_with_the_error_schema():
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if "security" not in operation:
                continue
            for status in ("400", "401", "403", "404", "409", "413", "422", "429", "503"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path)


def test_a_body_over_one_mebibyte_is_refused_while_read(world):
    headers = bearer(world.creds["alice"])
    big = b'{"detail": "' + b"x" * (1024 * 1024) + b'"}'
    answer = world.client.post("/v1/wallets/w/revisions/1/abandon", content=big, headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")

    def chunks():  # no Content-Length: the limit holds while the body streams in
        for _ in range(17):
            yield b"x" * 65536

    answer = world.client.post("/v1/audit", content=chunks(), headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (413, "too_large")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/wallets/w/revisions/0/check",
        "/v1/wallets/w/revisions/-1/check",
        "/v1/wallets/w/revisions/9223372036854775808/check",
        "/v1/wallets/w/revisions/1e3/check",
        "/v1/wallets/%01/revisions/1/check",
        "/v1/wallets/" + "x" * 129 + "/revisions/1/check",
    ],
)
def test_path_parameters_are_checked(world, path):
    answer = world.client.post(path, json={}, headers=bearer(world.creds["alice"]))
    assert (answer.status_code, answer.json()["error"]) == (400, "malformed")


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2", b"{}", b'{"detail": 1}', b'{"detail": "x", "more": 1}', b"[" * 100000],
)
def test_bodies_that_are_not_the_message_are_malformed(world, body):
    answer = world.client.post(
        "/v1/wallets/w/revisions/1/abandon", content=body, headers=bearer(world.creds["alice"])
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "malformed")


def test_a_proposal_for_another_wallet_than_the_path_is_malformed(world):
    from test_server_roles import _proposal

    answer = world.client.post(
        "/v1/wallets/other/proposals", json=_proposal(0), headers=bearer(world.creds["alice"])
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "malformed")


def test_unknown_routes_and_methods_answer_json(world):
    missing = world.client.get("/v2/nothing")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    wrong = world.client.delete("/v1/me")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")
    assert "GET" in wrong.headers["allow"]


def test_metrics_label_routes_never_ids_or_tokens(world):
    headers = bearer(world.creds["alice"])
    world.client.get("/v1/wallets/secret-wallet-name", headers=headers)
    world.client.get("/v1/me", headers=bearer("wbu_" + "B" * 43))
    text = world.client.get("/metrics").text
    assert 'route="/v1/wallets/{w}"' in text
    assert 'status="404"' in text
    assert "walletbackup_http_request_duration_seconds_bucket" in text
    for private in ("secret-wallet-name", "alice", "acme", "BBBB", *world.creds.values()):
        assert private not in text


def test_an_audit_record_the_store_refuses_is_counted_as_lost(world, caplog, monkeypatch):
    """The operation stands (the audit is best effort), but the gap shows in the metrics."""

    def refused(*args: object, **kwargs: object) -> int:
        raise StorageError("database or disk is full")

    monkeypatch.setattr(world.custodian.store.inner, "append_audit", refused)
    device = world.device()
    device.backup_wallet("w", b"client", method=PASS, custodian_share=b"c", passphrase="p w")
    lost = [
        line
        for line in world.client.get("/metrics").text.splitlines()
        if line.startswith("walletbackup_audit_records_lost_total ")
    ]
    assert lost and float(lost[0].split()[1]) >= 1  # the device's event, the service's own
    assert "could not write the audit record" in caplog.text
    assert device.recover_wallet("w", method=PASS, passphrase="p w").client_share == b"client"


def test_the_access_log_holds_no_secret(world, caplog):
    caplog.set_level(logging.INFO, logger="walletbackup.server.access")
    body = {"user": "dave-the-user"}
    world.client.post("/v1/tokens", json=body, headers=bearer(world.creds["backend"]))
    world.client.get("/v1/wallets/named-wallet", headers=bearer(world.creds["alice"]))
    lines = [r.getMessage() for r in caplog.records if r.name == "walletbackup.server.access"]
    assert len(lines) == 2
    entries = [json.loads(line) for line in lines]
    assert [(e["route"], e["status"]) for e in entries] == [
        ("/v1/tokens", 201),
        ("/v1/wallets/{w}", 404),
    ]
    text = "\n".join(lines)
    for private in ("dave-the-user", "named-wallet", *world.creds.values()):
        assert private not in text


def test_readyz_says_what_does_not_answer(world):
    assert world.client.get("/readyz").json() == {
        "ready": True,
        "checks": {"store": "ok", "state": "ok", "kms": "ok"},
    }
    world.custodian.kms.path.unlink()
    answer = world.client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {
        "ready": False,
        "checks": {"store": "ok", "state": "ok", "kms": "KmsKeyMissing"},
    }
    assert world.client.get("/healthz").json() == {"status": "ok"}
