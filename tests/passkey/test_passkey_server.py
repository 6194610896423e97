"""The browser path's one-shot server, driven by direct HTTP requests (no browser needed).

Each test's ``open_browser`` is a script that talks to the server the way a page (or an
attacker) would, while the method waits for the answer.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from passkey_support import Recorder

from walletbackup.canonical import b64encode
from walletbackup.errors import MethodUnavailable, PolicyViolation
from walletbackup.testing import new_context
from walletbackup_passkey import PasskeyDeclined, PasskeyMethod, PasskeyNotFound
from walletbackup_passkey.args import parse

CONTEXT = new_context()
SECRET = os.urandom(32)
CREDENTIAL = os.urandom(32)
OK = {"outcome": "ok", "credentialId": b64encode(CREDENTIAL), "first": b64encode(SECRET)}


def request(
    url: str,
    method: str = "GET",
    path: str | None = None,
    body: bytes | None = None,
    **headers: str,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request to the server behind ``url``; ``headers`` override the right ones."""
    parts = urlsplit(url)
    origin = f"http://{parts.netloc}"
    sent = {
        "Host": parts.netloc,
        "Origin": origin,
        "Content-Type": "application/json",
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }
    connection = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=10)
    try:
        connection.putrequest(method, path or parts.path, skip_host=True)
        for name, value in sent.items():
            if value:
                connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post(url: str, result: dict[str, Any], **headers: str) -> int:
    return request(
        url, "POST", urlsplit(url).path + "result", json.dumps(result).encode(), **headers
    )[0]


def answering(
    result: dict[str, Any],
    before: Callable[[str], None] = lambda url: None,
    seen: list[str] | None = None,
) -> Callable[[str], bool]:
    """An opener that runs ``before`` and then posts ``result`` as the page would."""

    def opener(url: str) -> bool:
        if seen is not None:
            seen.append(url)
        before(url)
        assert post(url, result) == 200
        return True

    return opener


def browser_method(opener: Callable[[str], object], **options: Any) -> PasskeyMethod:
    defaults = {"transport": "browser", "timeout": 30, "user_interaction": Recorder()}
    return PasskeyMethod(**{**defaults, **options}, open_browser=opener)


def test_a_posted_result_is_the_enrollment() -> None:
    enrollment = browser_method(answering(OK)).enroll(CONTEXT)
    assert enrollment.secret == SECRET
    found = parse(enrollment.args)
    assert (found.transport, found.rp_id, found.credential_id) == (
        "browser",
        "localhost",
        CREDENTIAL,
    )


def test_the_page_carries_the_salt_and_locks_itself_down() -> None:
    pages: list[tuple[int, dict[str, str], bytes]] = []
    enrollment = browser_method(answering(OK, lambda url: pages.append(request(url)))).enroll(
        CONTEXT
    )
    status, headers, body = pages[0]
    assert status == 200
    page = body.decode()
    config = json.loads(page.split('id="config">')[1].split("</script>")[0])
    # The same PRF input as the security-key path: the raw salt as prf.eval.first.
    assert config["salt"] == enrollment.args["salt"]
    assert config["rpId"] == "localhost"
    assert config["mode"] == "create"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "connect-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"path": "/not-the-token/"}, 404),
        ({"Host": "evil.example"}, 403),  # DNS rebinding: a foreign name pointed at 127.0.0.1
        ({"Host": "127.0.0.1"}, 403),
    ],
    ids=["wrong-token", "foreign-host", "ip-host"],
)
def test_a_page_request_without_token_or_host_is_refused(
    change: dict[str, str], status: int
) -> None:
    answers: list[int] = []

    def attack(url: str) -> None:
        host = change.get("Host")
        headers = {"Host": f"{host}:{urlsplit(url).port}"} if host else {}
        answers.append(request(url, path=change.get("path"), **headers)[0])

    browser_method(answering(OK, attack)).enroll(CONTEXT)
    assert answers == [status]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "http://localhost:1"}, 403),  # another local page
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": ""}, 403),  # no Origin: not sent by the page
        ({"Host": "evil.example"}, 403),
        ({"Content_Type": "application/x-www-form-urlencoded"}, 415),
    ],
    ids=["other-port", "foreign-origin", "no-origin", "foreign-host", "form-post"],
)
def test_a_result_from_elsewhere_is_refused(headers: dict[str, str], status: int) -> None:
    forged = {**OK, "first": b64encode(os.urandom(32))}
    answers: list[int] = []

    def attack(url: str) -> None:
        sent = dict(headers)
        if "Host" in sent:
            sent["Host"] = f"{sent['Host']}:{urlsplit(url).port}"
        answers.append(post(url, forged, **sent))

    enrollment = browser_method(answering(OK, attack)).enroll(CONTEXT)
    assert answers == [status]
    assert enrollment.secret == SECRET  # the refused post changed nothing


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"outcome": "maybe"}',
        json.dumps({**OK, "first": b64encode(os.urandom(31))}).encode(),
        json.dumps({**OK, "first": b64encode(SECRET) + "="}).encode(),
        json.dumps({**OK, "credentialId": b64encode(os.urandom(8))}).encode(),
        json.dumps({"outcome": "cancelled", "detail": 7}).encode(),
    ],
    ids=["text", "list", "unknown-outcome", "short-secret", "padded", "short-id", "odd-detail"],
)
def test_a_malformed_result_is_refused(body: bytes) -> None:
    answers: list[int] = []

    def attack(url: str) -> None:
        answers.append(request(url, "POST", urlsplit(url).path + "result", body)[0])

    assert browser_method(answering(OK, attack)).enroll(CONTEXT).secret == SECRET
    assert answers == [400]


def test_an_oversized_result_is_refused_unread() -> None:
    answers: list[int] = []

    def attack(url: str) -> None:
        body = json.dumps({"outcome": "error", "detail": "x" * 9000}).encode()
        answers.append(request(url, "POST", urlsplit(url).path + "result", body)[0])

    assert browser_method(answering(OK, attack)).enroll(CONTEXT).secret == SECRET
    assert answers == [411]


def test_only_the_first_result_counts_and_then_the_server_stops() -> None:
    answers: list[int] = []
    urls: list[str] = []

    def twice(url: str) -> bool:
        urls.append(url)
        answers.append(post(url, OK))
        answers.append(post(url, {**OK, "first": b64encode(os.urandom(32))}))
        return True

    assert browser_method(twice).enroll(CONTEXT).secret == SECRET
    assert answers == [200, 409]
    with pytest.raises(ConnectionRefusedError):
        request(urls[0])


def test_unlock_checks_the_credential_the_browser_used() -> None:
    enrollment = browser_method(answering(OK)).enroll(CONTEXT)
    other = {**OK, "credentialId": b64encode(os.urandom(32))}
    with pytest.raises(PasskeyNotFound, match="another passkey"):
        browser_method(answering(other)).unlock(enrollment.args, CONTEXT)
    assert browser_method(answering(OK)).unlock(enrollment.args, CONTEXT) == SECRET


@pytest.mark.parametrize(
    ("outcome", "error", "message"),
    [
        ({"outcome": "no-prf"}, MethodUnavailable, "no PRF result.*password, gdrive or icloud"),
        ({"outcome": "cancelled", "detail": "NotAllowedError"}, PasskeyDeclined, "cancelled"),
        ({"outcome": "closed"}, PasskeyDeclined, "page was closed"),
        (
            {"outcome": "unsupported", "detail": "no WebAuthn"},
            MethodUnavailable,
            "cannot use passkeys here \\(no WebAuthn\\)",
        ),
        (
            {"outcome": "error", "detail": "SecurityError: bad\u0007 rp\u0000"},
            MethodUnavailable,
            "error \\(SecurityError: bad rp\\)",
        ),
    ],
    ids=["no-prf", "cancelled", "closed", "unsupported", "error"],
)
def test_what_the_page_reports_becomes_a_typed_error(
    outcome: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        browser_method(answering(outcome)).enroll(CONTEXT)


def test_no_answer_times_out_and_stops_the_server() -> None:
    urls: list[str] = []

    def look_away(url: str) -> bool:
        urls.append(url)
        return True

    method = browser_method(look_away, timeout=0.5)
    with pytest.raises(PasskeyDeclined, match=r"no answer from the browser page within 0\.5 s"):
        method.enroll(CONTEXT)
    with pytest.raises(ConnectionRefusedError):
        request(urls[0])


def test_a_browser_that_cannot_open_shows_the_address() -> None:
    person = Recorder()

    def cannot_open(url: str) -> bool:
        answering(OK)(url)  # the person opens the address by hand
        return False

    method = PasskeyMethod(transport="browser", open_browser=cannot_open, user_interaction=person)
    assert method.enroll(CONTEXT).secret == SECRET
    assert any("open http://localhost:" in event and "yourself" in event for event in person.events)


def test_an_opener_that_fails_is_method_unavailable() -> None:
    def broken(url: str) -> bool:
        raise OSError("no display")

    with pytest.raises(MethodUnavailable, match="could not open a web browser \\(OSError\\)"):
        browser_method(broken).enroll(CONTEXT)


def test_a_second_concurrent_request_is_refused() -> None:
    enrollment = browser_method(answering(OK)).enroll(CONTEXT)
    refused: list[Exception] = []

    def meanwhile(url: str) -> None:
        with pytest.raises(PolicyViolation, match="already waiting") as caught:
            browser_method(answering(OK)).unlock(enrollment.args, CONTEXT)
        refused.append(caught.value)

    assert browser_method(answering(OK, meanwhile)).unlock(enrollment.args, CONTEXT) == SECRET
    assert len(refused) == 1


def test_the_token_stays_out_of_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    urls: list[str] = []
    with pytest.raises(PasskeyDeclined) as caught:
        browser_method(answering({"outcome": "cancelled"}, seen=urls)).enroll(CONTEXT)
    token = urlsplit(urls[0]).path.strip("/")
    assert token not in str(caught.value)
    assert token not in caplog.text
