"""The device's client of the service on the wire: errors, retries, limits, URLs and the token.

Against the fake service (tests/fixtures/service_fake.py), which injects the faults.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import quick_methods
import service_fake
from loopback_tls import self_signed
from quick_methods import PASS
from service_fake import FakeService, Fault

from walletbackup import (
    AccessDenied,
    BackupNotFound,
    MalformedBackup,
    PolicyViolation,
    StorageError,
    WalletBackup,
    WalletBackupError,
)
from walletbackup.cli.exits import EXIT_ACCESS_DENIED, exit_code_for
from walletbackup.remote import ERRORS, MAX_ANSWER, RemoteCustodian
from walletbackup.retry import RetriesExhausted, RetryPolicy

CLIENT, CUSTODIAN = b"client share", b"custodian share"
VIEW = r"^/v1/wallets/w$"


@pytest.fixture(autouse=True, scope="module")
def _quick_methods() -> Iterator[None]:
    with quick_methods.installed():
        yield


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeService]:
    with service_fake.running(tmp_path / "service") as service:
        yield service


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def remote(fake: FakeService, sleeps: list[float]) -> Iterator[RemoteCustodian]:
    client = RemoteCustodian(
        fake.url, fake.token_for("alice"), timeout=2.0, retry=RetryPolicy(sleep=sleeps.append)
    )
    yield client
    client.close()


def backed_up(fake: FakeService) -> None:
    with WalletBackup(custodian=fake.url, token=fake.token_for("alice")) as wb:
        wb.backup_wallet("w", CLIENT, method=PASS, custodian_share=CUSTODIAN, passphrase="p")
    fake.requests.clear()
    fake.connections.clear()


def test_503_is_retried_with_backoff_then_succeeds(
    fake: FakeService, remote: RemoteCustodian, sleeps: list[float]
) -> None:
    backed_up(fake)
    unavailable = {"error": "unavailable", "message": "the store is down"}
    fake.inject(Fault("status", times=2, path=VIEW, status=503, body=unavailable))
    view = remote.view("w")
    assert view is not None
    assert view.wallet_id == "w"
    assert fake.requests.count(("GET", "/v1/wallets/w")) == 3
    assert len(sleeps) == 2


def test_retry_after_is_honoured_and_retries_end(
    fake: FakeService, remote: RemoteCustodian, sleeps: list[float]
) -> None:
    fake.inject(Fault("status", times=99, path=VIEW, status=503, headers={"Retry-After": "2"}))
    with pytest.raises(RetriesExhausted, match=r"HTTP 503.*5 attempts") as raised:
        remote.view("w")
    assert isinstance(raised.value, StorageError)
    assert sleeps == [2.0] * 4


@pytest.mark.parametrize(("code", "status"), sorted(ERRORS))
def test_every_error_code_is_its_core_error_and_4xx_are_never_retried(
    fake: FakeService, remote: RemoteCustodian, sleeps: list[float], code: str, status: int
) -> None:
    body = {"error": code, "message": f"about {code}"}
    fake.inject(Fault("status", times=99, path="/check$", status=status, body=body))
    with pytest.raises(ERRORS[code, status], match=f"about {code}") as raised:
        remote.check("w", 1)  # a request that is safe to repeat
    assert type(raised.value) is ERRORS[code, status] or status == 503
    tries = fake.requests.count(("POST", "/v1/wallets/w/revisions/1/check"))
    assert tries == (remote.retry.attempts if status == 503 else 1)
    assert len(sleeps) == tries - 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"error": "internal", "message": "boom"}),  # an unknown code
        (400, {"error": "stale", "message": "x"}),  # a known code with another status
        (400, "<html>Bad Request</html>"),  # no error body
        (418, None),
        (302, None),
    ],
)
def test_other_answers_are_storage_errors_naming_the_status(
    fake: FakeService, remote: RemoteCustodian, status: int, body: object
) -> None:
    fake.inject(Fault("status", path=VIEW, status=status, body=body))
    with pytest.raises(StorageError, match=f"HTTP {status}"):
        remote.view("w")
    assert fake.requests.count(("GET", "/v1/wallets/w")) == 1


def test_rate_limited_says_when_to_try_again(fake: FakeService, remote: RemoteCustodian) -> None:
    body = {"error": "rate_limited", "message": "too many recoveries"}
    fake.inject(Fault("status", path=VIEW, status=429, body=body, headers={"Retry-After": "30"}))
    with pytest.raises(AccessDenied, match=r"too many recoveries \(try again in 30 s\)"):
        remote.view("w")
    assert exit_code_for(AccessDenied("x")) == EXIT_ACCESS_DENIED


def test_an_unknown_token_is_access_denied(fake: FakeService) -> None:
    remote = RemoteCustodian(fake.url, "wbu_not-a-token")
    try:
        with pytest.raises(AccessDenied, match="unauthenticated"):
            remote.view("w")
        with pytest.raises(AccessDenied, match="unauthenticated"):
            _ = remote.location
    finally:
        remote.close()


def test_a_dropped_connection_is_retried_for_reads_not_for_promotions(
    fake: FakeService, remote: RemoteCustodian
) -> None:
    backed_up(fake)
    fake.inject(Fault("close", path=VIEW))
    assert remote.view("w") is not None
    fake.inject(Fault("close", path="/promote$"))
    with pytest.raises(StorageError, match="could not make the backup current"):
        remote.promote("w", 1)
    assert sum(1 for _, path in fake.requests if path.endswith("/promote")) == 1


def test_a_proposal_whose_answer_was_lost_is_recognised(fake: FakeService) -> None:
    fake.inject(Fault("lost", path="/proposals$"))
    fake.requests.clear()
    with WalletBackup(custodian=fake.url, token=fake.token_for("alice")) as wb:
        # The retry finds the proposal held, and the backup completes.
        wb.backup_wallet("w", CLIENT, method=PASS, custodian_share=CUSTODIAN, passphrase="p")
    assert sum(1 for _, path in fake.requests if path.endswith("/proposals")) == 2
    with WalletBackup(custodian=fake.url, token=fake.token_for("alice")) as wb:
        assert [s.status for s in wb.backup_status("w")] == ["stored"]
        assert wb.recover_wallet("w", method=PASS, passphrase="p").client_share == CLIENT


def test_an_answer_later_than_the_timeout_is_retried(
    fake: FakeService, tmp_path: Path, sleeps: list[float]
) -> None:
    backed_up(fake)
    token = fake.token_for("alice")
    policy = RetryPolicy(attempts=2, sleep=sleeps.append)
    with_timeout = RemoteCustodian(fake.url, token, timeout=0.3, retry=policy)
    try:
        fake.inject(Fault("delay", path=VIEW, seconds=2.0))
        assert with_timeout.view("w") is not None
        fake.inject(Fault("delay", times=2, path=VIEW, seconds=2.0))
        with pytest.raises(RetriesExhausted, match="no answer in time"):
            with_timeout.view("w")
    finally:
        with_timeout.close()


@pytest.mark.parametrize(
    "fault",
    [
        Fault("garbage", path=VIEW),
        Fault("oversized", path=VIEW, length=MAX_ANSWER + 1),
        Fault("stream", path=VIEW, length=MAX_ANSWER + 1),
        Fault("other_wallet", path=VIEW),
        Fault("status", path=VIEW, status=200, body={"wallet_id": "w", "extra": 1}),
    ],
    ids=["garbage", "oversized", "stream", "other_wallet", "unknown_field"],
)
def test_a_bad_answer_is_malformed_and_the_client_carries_on(
    fake: FakeService, remote: RemoteCustodian, fault: Fault
) -> None:
    backed_up(fake)
    fake.inject(fault)
    with pytest.raises(MalformedBackup):
        remote.view("w")
    assert fake.requests.count(("GET", "/v1/wallets/w")) == 1  # never retried
    assert remote.view("w") is not None


def test_a_device_refuses_another_wallets_view(fake: FakeService) -> None:
    backed_up(fake)
    fake.inject(Fault("other_wallet", path=VIEW))
    with (
        WalletBackup(custodian=fake.url, token=fake.token_for("alice")) as wb,
        pytest.raises(MalformedBackup, match="another wallet"),
    ):
        wb.recover_wallet("w", method=PASS, passphrase="p")


def test_a_check_of_another_revision_is_refused(fake: FakeService) -> None:
    backed_up(fake)
    other = {"revision": 2, "backup_set_id": "00" * 16, "key_epoch": 1}
    fake.inject(Fault("status", path="/check$", status=200, body=other))
    with (
        WalletBackup(custodian=fake.url, token=fake.token_for("alice")) as wb,
        pytest.raises(MalformedBackup, match="another revision"),
    ):
        wb.verify_backup("w", method=PASS, passphrase="p")


def test_the_service_never_releases_the_share_to_a_device(remote: RemoteCustodian) -> None:
    assert remote.releases_custodian_share is False
    with pytest.raises(AccessDenied, match="MPC node"):
        remote.release("w", 1)


def test_keep_alive_and_a_connection_the_service_closed_while_idle(
    fake: FakeService, remote: RemoteCustodian
) -> None:
    backed_up(fake)
    for _ in range(3):
        remote.view("w")
    assert len(fake.connections) == 1
    fake.inject(Fault("hangup", path=VIEW))
    remote.view("w")
    # A write on the idle connection the service closed would be lost: a new one carries it,
    # and the service's own answer comes back (no pending revision 7).
    with pytest.raises(BackupNotFound, match="no pending revision 7"):
        remote.promote("w", 7)
    assert len(fake.connections) == 2


def test_the_token_never_shows(
    fake: FakeService, caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    token = fake.token_for("alice")
    caplog.set_level(logging.DEBUG)
    errors: list[WalletBackupError] = []
    with WalletBackup(custodian=fake.url, token=token) as wb:
        wb.backup_wallet("w", CLIENT, method=PASS, custodian_share=CUSTODIAN, passphrase="p")
        assert isinstance(wb.custodian, RemoteCustodian)
        wb.custodian.retry = RetryPolicy(attempts=2, sleep=sleeps.append)
        shown = [repr(wb), str(wb), repr(wb.custodian), wb.custodian.location]
        echo = {"error": "forbidden", "message": f"token {token} is not allowed"}
        for fault in (
            Fault("status", path=VIEW, status=403, body=echo),
            Fault("status", times=2, path=VIEW, status=503, body=echo),
            Fault("close", times=2, path=VIEW),
            Fault("status", method="POST", path="/v1/audit$", status=503, body=echo),
        ):
            fake.inject(fault)
            try:
                wb.verify_backup("w", method=PASS, passphrase="p")
            except WalletBackupError as exc:
                errors.append(exc)
    assert len(errors) == 3
    shown += [repr(e) for e in errors] + [str(e) for e in errors]
    assert "[token]" in str(errors[0])
    for text in (*shown, caplog.text):
        assert token not in text
    assert "could not send the audit record" in caplog.text


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("HTTPS://Custodian.Example.COM:443/base/", "https://custodian.example.com/base"),
        ("https://custodian.example.com:8443", "https://custodian.example.com:8443"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://localhost", "http://localhost"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_urls_are_normalised(url: str, location: str) -> None:
    assert RemoteCustodian(url, "wbu_x").url == location
    assert repr(RemoteCustodian(url, "wbu_x")) == f"<RemoteCustodian {location}>"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://custodian.example.com", "must be https://"),
        ("http://10.0.0.1:8080", "must be https://"),
        ("https://user:hunter2@custodian.example.com", "user name or password"),
        ("https://custodian.example.com/?token=hunter2", "no query"),
        ("https://custodian.example.com/#hunter2", "no query"),
        ("ftp://custodian.example.com", "starts with https://"),
        ("custodian.example.com", "starts with https://"),
        ("https://:443", "names no host"),
        ("https://custodian.example.com:99999", "not a valid URL"),
        ("https://custodian.example.com/a b", "not allowed"),
    ],
)
def test_bad_urls_are_refused_without_quoting_them(url: str, message: str) -> None:
    with pytest.raises(PolicyViolation, match=message) as raised:
        RemoteCustodian(url, "wbu_x")
    assert "hunter2" not in str(raised.value)


def test_plain_http_elsewhere_only_when_allowed() -> None:
    remote = RemoteCustodian("http://custodian.internal", "wbu_x", allow_insecure_http=True)
    assert remote.url == "http://custodian.internal"


@pytest.mark.parametrize("token", ["", "with space", "line\nbreak", "é", 42])
def test_bad_tokens_are_refused_without_quoting_them(token: object) -> None:
    with pytest.raises(PolicyViolation, match="token must be") as raised:
        RemoteCustodian("https://custodian.example.com", token)  # type: ignore[arg-type]
    assert "break" not in str(raised.value)


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan"), True, "30"])
def test_bad_timeouts_are_refused(timeout: object) -> None:
    with pytest.raises(PolicyViolation, match="timeout"):
        RemoteCustodian("https://custodian.example.com", "wbu_x", timeout=timeout)  # type: ignore[arg-type]


def test_wallet_backup_arguments_for_a_service(tmp_path: Path) -> None:
    url = "https://custodian.example.com"
    with pytest.raises(PolicyViolation, match="needs the user token"):
        WalletBackup(custodian=url)
    with pytest.raises(PolicyViolation, match="give its URL as custodian="):
        WalletBackup(token="wbu_x")
    for embedded in ({"store": "memory:"}, {"kms": f"local://{tmp_path / 'k'}"}):
        with pytest.raises(PolicyViolation, match="keeps its own store and KMS"):
            WalletBackup(custodian=url, token="wbu_x", **embedded)  # type: ignore[arg-type]
    remote = RemoteCustodian(url, "wbu_x")
    with pytest.raises(PolicyViolation, match="goes with a custodian service URL"):
        WalletBackup(custodian=remote, token="wbu_x")
    with WalletBackup(custodian=url, token="wbu_secret-token") as wb:
        assert "secret-token" not in repr(wb)
        assert wb.custodian.releases_custodian_share is False
        with pytest.raises(PolicyViolation, match="custodian operator"):
            wb.audit_log()


def _tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a self-signed certificate for 127.0.0.1, and the certificate."""
    cert_file, key_file = self_signed(tmp_path, "service")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


def test_https_verifies_the_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context, cert_file = _tls(tmp_path)
    with service_fake.running(tmp_path / "service", tls=context) as fake:
        backed_up_over = fake.url
        assert backed_up_over.startswith("https://127.0.0.1:")
        untrusted = RemoteCustodian(fake.url, fake.token_for("alice"))
        try:
            with pytest.raises(StorageError, match="certificate that could not be verified"):
                untrusted.view("w")
            assert fake.requests == []  # refused before any request, and not retried
        finally:
            untrusted.close()
        # Trusted through the system's trust store (here: OpenSSL's SSL_CERT_FILE).
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
        with WalletBackup(custodian=fake.url, token=fake.token_for("alice")) as wb:
            wb.backup_wallet("w", CLIENT, method=PASS, custodian_share=CUSTODIAN, passphrase="p")
            assert wb.recover_wallet("w", method=PASS, passphrase="p").client_share == CLIENT


def test_an_answer_cut_short_is_retried_not_parsed() -> None:
    """A service killed mid-answer (Content-Length says more than came): lost, so retried."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    served: list[int] = []

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                served.append(1)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100\r\n\r\n{\"wallet_id\": ")  # fmt: skip

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01)
    custodian = RemoteCustodian(f"http://127.0.0.1:{port}", "wbu_token", retry=policy)
    try:
        with pytest.raises(StorageError):
            custodian.view("w")
    finally:
        custodian.close()
        listener.close()
    assert len(served) == 2  # the first cut answer was retried
