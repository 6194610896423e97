"""Rate limits on recovery and on the node's share route: per user, per source, shared by replicas.

The apps here run on uvicorn on loopback, so the peer address is 127.0.0.1: a test that wants
``X-Forwarded-For`` believed trusts that address as a proxy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from server_thread import serving
from service_http import bearer

from walletbackup import Custodian
from walletbackup.errors import PolicyViolation
from walletbackup_server import ServerState, Settings, Tenants, create_app
from walletbackup_server.config import ConfigError, load
from walletbackup_server.ratelimit import (
    DEFAULT_LIMITS,
    GroupLimits,
    Rate,
    RateLimiter,
    networks,
    source_address,
)

VIEW = "/v1/wallets/w"
CHECK = "/v1/wallets/w/revisions/1/check"
SHARE = "/v1/users/{user}/wallets/w/revisions/1/custodian-share"


def limited(**groups: GroupLimits) -> dict[str, GroupLimits]:
    return {**DEFAULT_LIMITS, **groups}


class Replicas:
    """Apps over one wallet store and one state store (SQLite files), as replicas would be."""

    def __init__(self, tmp_path: Path, stack: ExitStack) -> None:
        self.tmp_path = tmp_path
        self.stack = stack
        state = self._state()
        tenants = Tenants(state)
        _, node = tenants.add_tenant("acme")
        self.creds = {
            "node": node.secret,
            "alice": tenants.mint_token("acme", "alice", 600).secret,
            "bob": tenants.mint_token("acme", "bob", 600).secret,
        }

    def _state(self) -> ServerState:
        state = ServerState.open(f"sqlite://{self.tmp_path / 'state.db'}")
        self.stack.callback(state.close)
        return state

    def client(self, settings: Settings) -> httpx.Client:
        custodian = Custodian(
            store=f"sqlite://{self.tmp_path / 'custodian.db'}",
            kms=f"local://{self.tmp_path / 'custodian.key'}",
        )
        self.stack.callback(custodian.close)
        url = self.stack.enter_context(
            serving(create_app(custodian, self._state(), settings=settings))
        )
        return self.stack.enter_context(httpx.Client(base_url=url))


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    with ExitStack() as stack:
        yield Replicas(tmp_path, stack)


def test_a_user_is_limited_and_another_user_is_not(replicas):
    client = replicas.client(Settings(rate_limits=limited(recovery=GroupLimits(Rate(3, 60), None))))
    alice, bob = bearer(replicas.creds["alice"]), bearer(replicas.creds["bob"])
    statuses = [client.get(VIEW, headers=alice).status_code for _ in range(3)]
    assert statuses == [404, 404, 404]  # a wallet that is not there counts as much as one that is
    refused = client.post(CHECK, json={}, headers=alice)  # view and check are one group
    assert refused.status_code == 429
    assert refused.json() == {
        "error": "rate_limited",
        "message": refused.json()["message"],
    }
    # Within two periods: the earlier window's count decays over the next one.
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    assert "user" in refused.json()["message"]
    assert client.get(VIEW, headers=bob).status_code == 404
    assert client.get("/v1/wallets", headers=alice).status_code == 200  # not a limited route

    metrics = client.get("/metrics").text
    check = "/v1/wallets/{w}/revisions/{r}/check"
    assert f'walletbackup_rate_limited_total{{key="user",route="{check}"}} 1.0' in metrics
    for private in ("alice", "acme", "127.0.0.1", *replicas.creds.values()):
        assert private not in metrics


def test_a_source_is_limited_whoever_it_asks_for(replicas):
    client = replicas.client(Settings(rate_limits=limited(recovery=GroupLimits(None, Rate(3, 60)))))
    alice, bob = bearer(replicas.creds["alice"]), bearer(replicas.creds["bob"])
    assert [client.get(VIEW, headers=h).status_code for h in (alice, bob, alice)] == [404] * 3
    refused = client.get(VIEW, headers=bob)
    assert (refused.status_code, refused.json()["error"]) == (429, "rate_limited")
    assert "source" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert 'walletbackup_rate_limited_total{key="source",route="/v1/wallets/{w}"} 1.0' in (
        client.get("/metrics").text
    )


def test_the_nodes_share_route_is_limited_per_user_it_asks_for(replicas):
    client = replicas.client(Settings(rate_limits=limited(release=GroupLimits(Rate(2, 60), None))))
    node = bearer(replicas.creds["node"])
    assert [client.get(SHARE.format(user="alice"), headers=node).status_code for _ in range(2)] == [
        404,
        404,
    ]
    assert client.get(SHARE.format(user="alice"), headers=node).status_code == 429
    assert client.get(SHARE.format(user="bob"), headers=node).status_code == 404


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(replicas):
    rates = limited(recovery=GroupLimits(None, Rate(2, 60)))
    alice = bearer(replicas.creds["alice"])

    direct = replicas.client(Settings(rate_limits=rates))
    spoofed = [
        direct.get(VIEW, headers=alice | {"X-Forwarded-For": f"10.0.0.{n}"}).status_code
        for n in range(3)
    ]
    assert spoofed == [404, 404, 429]  # the peer is the source: the header is the client's word

    proxied = replicas.client(Settings(rate_limits=rates, trusted_proxies=("127.0.0.0/8",)))
    first = alice | {"X-Forwarded-For": "203.0.113.7"}
    assert [proxied.get(VIEW, headers=first).status_code for _ in range(2)] == [404, 404]
    # What the client wrote left of the proxy's entry does not make it someone else.
    forged = alice | {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
    assert proxied.get(VIEW, headers=forged).status_code == 429
    other = alice | {"X-Forwarded-For": "203.0.113.7, 198.51.100.2"}
    assert proxied.get(VIEW, headers=other).status_code == 404


def test_two_replicas_over_one_state_store_enforce_one_limit(replicas):
    settings = Settings(rate_limits=limited(recovery=GroupLimits(Rate(4, 60), None)))
    one, two = replicas.client(settings), replicas.client(settings)
    alice = bearer(replicas.creds["alice"])
    statuses = [client.get(VIEW, headers=alice).status_code for client in (one, two, one, two)]
    assert statuses == [404] * 4
    assert one.get(VIEW, headers=alice).status_code == 429
    assert two.get(VIEW, headers=alice).status_code == 429


def test_the_source_is_the_rightmost_untrusted_hop():
    trusted = networks(["10.0.0.0/8", "::1"])
    assert source_address("192.0.2.1", ["1.2.3.4"], trusted) == "192.0.2.1"
    assert source_address("10.0.0.2", ["1.2.3.4, 5.6.7.8"], trusted) == "5.6.7.8"
    assert source_address("10.0.0.2", ["1.2.3.4", "5.6.7.8, 10.1.1.1"], trusted) == "5.6.7.8"
    assert source_address("::1", ["10.0.0.9, 10.0.0.3"], trusted) == "10.0.0.9"
    assert source_address("10.0.0.2", [], trusted) == "10.0.0.2"
    assert source_address(None, [], trusted) == "unknown"
    with pytest.raises(PolicyViolation):
        networks(["not-an-address"])


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_window_slides_and_retry_after_is_when_one_more_fits(tmp_path):
    state = ServerState.open(f"sqlite://{tmp_path / 'state.db'}")
    clock = Clock(6000.0)  # the start of a 60-second window
    limiter = RateLimiter(state, limited(recovery=GroupLimits(Rate(10, 60), None)), clock=clock)
    keys = [("user", "acme/alice")]
    assert all(limiter.hit("recovery", keys) is None for _ in range(10))
    refused = limiter.hit("recovery", keys)
    assert refused is not None and refused.kind == "user"
    # In the next window the 10 earlier ones weigh (1 - elapsed/60): one more fits after 6 s.
    assert refused.retry_after == 66
    clock.now += refused.retry_after - 1
    assert limiter.hit("recovery", keys) is not None
    clock.now += 1
    assert limiter.hit("recovery", keys) is None
    # Half way through the next window, half of the earlier window still counts.
    clock.now = 6090.0
    allowed = 0
    while limiter.hit("recovery", keys) is None:
        allowed += 1
    assert allowed == 4  # 10 * 0.5 + 1 counted this window + 4 = 10
    state.close()


def test_counters_nobody_meets_again_are_swept(tmp_path):
    state = ServerState.open(f"sqlite://{tmp_path / 'state.db'}")
    clock = Clock(0.0)
    limiter = RateLimiter(
        state, limited(recovery=GroupLimits(Rate(5, 60), Rate(5, 60))), clock=clock
    )
    assert limiter.hit("recovery", [("user", "acme/alice"), ("source", "192.0.2.1")]) is None
    assert len(list(state.keys("rate/"))) == 2
    clock.now = 119.0
    assert limiter.sweep() == 0
    clock.now = 120.0
    assert limiter.sweep() == 2
    assert list(state.keys("rate/")) == []
    state.close()


def test_rate_limits_and_trusted_proxies_come_from_the_config_file(tmp_path):
    path = tmp_path / "server.toml"
    path.write_text(
        'trusted_proxies = ["10.0.0.0/8", "::1"]\n'
        "[rate_limits]\n"
        'recovery = { per_user = "10/minute" }\n'
        'eject = { per_user = "3/2hour", per_source = "off" }\n'
    )
    config = load(str(path))
    settings = config.settings()
    assert settings.trusted_proxies == ("10.0.0.0/8", "::1")
    assert settings.rate_limits["recovery"] == GroupLimits(Rate(10, 60), Rate(300, 60))
    assert settings.rate_limits["eject"] == GroupLimits(Rate(3, 7200), None)
    assert settings.rate_limits["release"] == DEFAULT_LIMITS["release"]


@pytest.mark.parametrize(
    "text",
    [
        'trusted_proxies = "10.0.0.0/8"',
        'trusted_proxies = ["proxy.example"]',
        '[rate_limits]\nrecovery = { per_user = "lots" }',
        '[rate_limits]\nrecovery = { per_user = "0/minute" }',
        '[rate_limits]\nrecovery = { per_device = "1/minute" }',
        '[rate_limits]\nanything = { per_user = "1/minute" }',
        "rate_limits = 5",
    ],
)
def test_bad_rate_limit_settings_are_usage_errors(tmp_path, text):
    path = tmp_path / "server.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError):
        load(str(path))


def test_a_group_without_limits_is_not_counted(replicas):
    """No limit by either key: the request passes without touching the state store."""
    unlimited = limited(recovery=GroupLimits(None, None))
    assert not RateLimiter(replicas._state(), unlimited).limited("recovery")
    client = replicas.client(Settings(rate_limits=unlimited))
    for _ in range(3):
        assert client.get(VIEW, headers=bearer(replicas.creds["alice"])).status_code == 404
    assert list(replicas._state().keys("rate/")) == []
    assert RateLimiter(replicas._state(), limited()).limited("recovery")
