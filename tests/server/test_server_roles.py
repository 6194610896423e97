"""Every route against every kind of caller: who gets in, and who gets which refusal.

alice (tenant acme) has wallet ``w`` at revision 1, with revision 2 pending. bob is another user
of acme, carol a user of tenant ``other``. A device never reaches another user's wallet (404,
the same answer as no such wallet), never the token or custodian-share routes (403); the
backend key and the custodian credential never reach the device routes (403).
"""

from __future__ import annotations

import dataclasses
import os
import re

import pytest
from quick_methods import PASS
from service_http import bearer

from walletbackup import WalletBackup, protocol
from walletbackup.protocol import Proposal
from walletbackup.state import StanzaRef
from walletbackup_server.auth import digest

CALLERS = (
    "none",
    "garbage",
    "unknown",
    "expired",
    "backend",
    "custodian",
    "other_custodian",
    "alice",
    "bob",
    "carol",
)


def _proposal(base_revision: int) -> dict:
    return protocol.to_json(
        Proposal(
            wallet_id="w",
            mode="managed",
            base_revision=base_revision,
            revision=7,
            backup_set_id=os.urandom(16).hex(),
            key_epoch=5,
            share_commitment=os.urandom(32),
            client_envelope_id=os.urandom(32).hex(),
            client_envelope=os.urandom(100),
            stanzas=(StanzaRef("ab" * 16, PASS),),
            new_stanzas=("ab" * 16,),
            reason=PASS,
            custodian_share=os.urandom(32),
        )
    )


ROUTES = {
    "mint": ("POST", "/v1/tokens", {"user": "dave"}),
    "me": ("GET", "/v1/me", None),
    "list": ("GET", "/v1/wallets", None),
    "view": ("GET", "/v1/wallets/w", None),
    "propose": ("POST", "/v1/wallets/w/proposals", "proposal"),
    "promote": ("POST", "/v1/wallets/w/revisions/2/promote", {}),
    "abandon": ("POST", "/v1/wallets/w/revisions/2/abandon", {"detail": "test"}),
    "verified": ("POST", "/v1/wallets/w/revisions/1/verified", {"stanza_id": "ab" * 16}),
    "check": ("POST", "/v1/wallets/w/revisions/1/check", {}),
    "audit": ("POST", "/v1/audit", {"event": {"type": "verify", "wallet_id": "w"}}),
    "share": ("GET", "/v1/users/alice/wallets/w/revisions/1/custodian-share", None),
    "eject_prepare": ("POST", "/v1/wallets/w/eject/prepare", {}),
    "eject": ("POST", "/v1/wallets/w/eject", {}),
    "eject_cancel": ("DELETE", "/v1/wallets/w/eject", None),
}

_NOBODY = {"none": 401, "garbage": 401, "unknown": 401, "expired": 401}
_SERVICE = {"backend": 403, "custodian": 403, "other_custodian": 403}
#: A device route: alice's wallet is there for alice only.
_DEVICE = {**_NOBODY, **_SERVICE, "bob": 404, "carol": 404}

EXPECTED = {
    "mint": {**_NOBODY, **_SERVICE, "backend": 201, "alice": 403, "bob": 403, "carol": 403},
    "me": {**_NOBODY, **dict.fromkeys(CALLERS[4:], 200)},
    "list": {**_DEVICE, "alice": 200, "bob": 200, "carol": 200},
    "view": {**_DEVICE, "alice": 200},
    # alice's wallet is at revision 1: a change built on 0 is a conflict. bob and carol write
    # a wallet "w" of their own, which leaves alice's alone.
    "propose": {**_DEVICE, "alice": 409, "bob": 201, "carol": 201},
    "promote": {**_DEVICE, "alice": 204},
    "abandon": {**_DEVICE, "alice": 204},
    "verified": {**_DEVICE, "alice": 204},
    "check": {**_DEVICE, "alice": 200},
    "audit": {**_DEVICE, "alice": 204, "bob": 204, "carol": 204},
    # Only alice's own token reaches her wallet's eject; none was prepared (eject_not_ready).
    "eject_prepare": {**_DEVICE, "alice": 202},
    "eject": {**_DEVICE, "alice": 409},
    "eject_cancel": {**_DEVICE, "alice": 204},
    "share": {
        **_NOBODY,
        "backend": 403,
        "custodian": 200,
        "other_custodian": 404,
        "alice": 403,
        "bob": 403,
        "carol": 403,
    },
}


@pytest.fixture
def alice_wallet(world):
    """alice's wallet ``w``: revision 1 current, revision 2 pending (a re-seal of 1)."""
    url = str(world.client.base_url)
    with WalletBackup(custodian=url, token=world.creds["alice"], device_state=None) as wb:
        wb.backup_wallet("w", b"c" * 32, method=PASS, passphrase="pw", custodian_share=b"s" * 32)
    view = world.custodian.view("acme/alice/w")
    current = view.current
    released = world.custodian.release("acme/alice/w", 1)
    world.custodian.propose(
        Proposal(
            wallet_id="acme/alice/w",
            mode="managed",
            base_revision=1,
            revision=2,
            backup_set_id=current.backup_set_id,
            key_epoch=current.key_epoch,
            share_commitment=released.share_commitment,
            client_envelope_id=os.urandom(32).hex(),
            client_envelope=current.client_envelope,
            stanzas=current.stanzas,
            new_stanzas=(),
            reason="test",
        )
    )
    return world


def _credential(world, caller: str) -> str | None:
    return {
        "none": None,
        "garbage": "not-a-credential",
        "unknown": "wbu_" + "A" * 43,
    }.get(caller, world.creds.get(caller))


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", list(ROUTES))
def test_role_matrix(alice_wallet, route, caller):
    world = alice_wallet
    method, path, body = ROUTES[route]
    if body == "proposal":
        body = _proposal(base_revision=0)
    before = world.custodian.view("acme/alice/w")
    answer = world.client.request(
        method, path, json=body, headers=bearer(_credential(world, caller))
    )
    assert answer.status_code == EXPECTED[route][caller], answer.text
    if answer.status_code >= 400:
        assert set(answer.json()) == {"error", "message"}
        for secret in world.creds.values():
            assert secret not in answer.text
    if answer.status_code == 401:
        assert answer.headers["www-authenticate"] == "Bearer"
    if caller != "alice" and route not in ("mint",):
        # Nobody but alice changes alice's wallet.
        assert world.custodian.view("acme/alice/w") == before


def test_every_authenticated_route_is_in_the_matrix():
    from walletbackup_server.openapi import OPERATIONS

    templates = {(op.method.upper(), op.path) for op in OPERATIONS if op.role is not None}
    concrete = {
        (method, re.sub(r"/revisions/[0-9]+/", "/revisions/{r}/", path)
         .replace("/users/alice/", "/users/{u}/").replace("/wallets/w", "/wallets/{w}"))
        for method, path, _ in ROUTES.values()
    }  # fmt: skip
    assert concrete == templates


def test_what_each_caller_lists(alice_wallet):
    world = alice_wallet
    lists = {
        who: world.client.get("/v1/wallets", headers=bearer(world.creds[who])).json()
        for who in ("alice", "bob", "carol")
    }
    assert lists == {"alice": {"wallets": ["w"]}, "bob": {"wallets": []}, "carol": {"wallets": []}}


def test_me_says_who(world):
    answers = {
        who: world.client.get("/v1/me", headers=bearer(world.creds[who])).json()
        for who in ("backend", "custodian", "alice", "carol")
    }
    assert answers == {
        "backend": {"tenant": "acme", "role": "backend", "user": None},
        "custodian": {"tenant": "acme", "role": "custodian", "user": None},
        "alice": {"tenant": "acme", "role": "device", "user": "alice"},
        "carol": {"tenant": "other", "role": "device", "user": "carol"},
    }


def test_an_expired_token_is_deleted_when_met(world):
    key = f"credential/{digest(world.creds['expired'])}"
    assert world.state.load(key) is not None
    answer = world.client.get("/v1/me", headers=bearer(world.creds["expired"]))
    assert answer.status_code == 401
    assert world.state.load(key) is None


def test_a_minted_token_works_until_it_expires(world):
    answer = world.client.post(
        "/v1/tokens",
        json={"user": "dave", "ttl_seconds": 60},
        headers=bearer(world.creds["backend"]),
    )
    assert answer.status_code == 201
    token = answer.json()["token"]
    assert token.startswith("wbu_")
    me = world.client.get("/v1/me", headers=bearer(token)).json()
    assert me == {"tenant": "acme", "role": "device", "user": "dave"}
    document = world.state.load(f"credential/{digest(token)}")
    world.state.save(
        f"credential/{digest(token)}", document | {"expires_at": "2001-01-01T00:00:00+00:00"}
    )
    assert world.client.get("/v1/me", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize(
    "body",
    [{"user": "a/b"}, {"user": ""}, {"user": "x", "ttl_seconds": 59},
     {"user": "x", "ttl_seconds": 86_401}, {"user": "x", "ttl_seconds": True},
     {"user": "x", "extra": 1}, [], "x"],
)  # fmt: skip
def test_token_requests_that_are_refused(world, body):
    answer = world.client.post("/v1/tokens", json=body, headers=bearer(world.creds["backend"]))
    assert answer.status_code == 400
    assert answer.json()["error"] == "malformed"


def test_a_revoked_credential_stops_working(world):
    (tenant,) = [t for t in world.tenants.tenants() if t["id"] == "acme"]
    backend_id = next(c["id"] for c in tenant["credentials"] if c["role"] == "backend")
    world.tenants.revoke_credential("acme", backend_id)
    answer = world.client.get("/v1/me", headers=bearer(world.creds["backend"]))
    assert answer.status_code == 401
    assert dataclasses.is_dataclass(world.tenants.add_credential("acme", "backend"))
