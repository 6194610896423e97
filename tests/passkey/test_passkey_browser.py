"""The browser path in real headless Chromium, with a WebAuthn virtual authenticator (PRF).

The method's ``open_browser`` is a :class:`Person` who navigates a DevTools-controlled tab to
the method's URL and presses the page's buttons; the page runs ``navigator.credentials`` for real.
"""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from chromium_devtools import PRF_ONLY_ENABLED_AT_CREATE, Person, Tab
from passkey_support import Recorder

from walletbackup.errors import MethodUnavailable
from walletbackup.testing import new_context
from walletbackup_passkey import PasskeyDeclined, PasskeyMethod
from walletbackup_passkey.args import parse

CONTEXT = new_context()


def method(person: Person, **options: Any) -> PasskeyMethod:
    defaults = {"transport": "browser", "timeout": 30, "user_interaction": Recorder()}
    return PasskeyMethod(**{**defaults, **options}, open_browser=person)


def stored_ids(tab: Tab, authenticator: str) -> list[bytes]:
    """The credential ids the virtual authenticator holds (DevTools gives standard base64)."""
    return [base64.b64decode(c["credentialId"]) for c in tab.credentials(authenticator)]


def test_enroll_then_unlock_through_the_page(tab: Tab) -> None:
    authenticator = tab.add_authenticator()
    enrollment = method(Person(tab)).enroll(CONTEXT)
    found = parse(enrollment.args)
    assert (found.transport, found.rp_id) == ("browser", "localhost")
    assert stored_ids(tab, authenticator) == [found.credential_id]
    assert tab.credentials(authenticator)[0]["rpId"] == "localhost"
    assert method(Person(tab)).unlock(enrollment.args, CONTEXT) == enrollment.secret


def test_a_provider_that_only_says_enabled_takes_one_more_step(tab: Tab) -> None:
    tab.add_authenticator()
    tab.call("Page.addScriptToEvaluateOnNewDocument", {"source": PRF_ONLY_ENABLED_AT_CREATE})
    person = Person(tab)
    enrollment = method(person).enroll(CONTEXT)
    assert method(Person(tab)).unlock(enrollment.args, CONTEXT) == enrollment.secret


def test_several_passkeys_in_one_browser(tab: Tab) -> None:
    authenticator = tab.add_authenticator()
    first = method(Person(tab)).enroll(CONTEXT)
    second = method(Person(tab)).enroll(CONTEXT)
    assert len(tab.credentials(authenticator)) == 2
    assert first.secret != second.secret
    assert method(Person(tab)).unlock(first.args, CONTEXT) == first.secret
    assert method(Person(tab)).unlock(second.args, CONTEXT) == second.secret


def test_an_authenticator_without_prf_gets_the_clear_error(tab: Tab) -> None:
    tab.add_authenticator(prf=False)
    person = Person(tab)
    with pytest.raises(MethodUnavailable, match=r"no PRF result.*password, gdrive or icloud"):
        method(person).enroll(CONTEXT)
    tab.wait_for("!document.getElementById('noprf').hidden")
    text = person.page_text()
    assert "did not return a PRF result" in text
    assert 'transport="security-key"' in text
    assert "password, Google Drive or iCloud" in text


def test_cancel_on_the_page(tab: Tab) -> None:
    tab.add_authenticator(presence=False)  # the passkey prompt stays open until cancelled
    with pytest.raises(PasskeyDeclined, match="cancelled"):
        method(Person(tab, "cancel")).enroll(CONTEXT)


def test_refused_verification_rejects_credentials_get(tab: Tab) -> None:
    authenticator = tab.add_authenticator()
    enrollment = method(Person(tab)).enroll(CONTEXT)
    tab.call(
        "WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False}
    )
    with pytest.raises(PasskeyDeclined, match="cancelled, no passkey was chosen"):
        method(Person(tab)).unlock(enrollment.args, CONTEXT)


def test_a_passkey_removed_from_the_browser(tab: Tab) -> None:
    authenticator = tab.add_authenticator()
    enrollment = method(Person(tab)).enroll(CONTEXT)
    (stored,) = tab.credentials(authenticator)
    tab.call(
        "WebAuthn.removeCredential",
        {"authenticatorId": authenticator, "credentialId": stored["credentialId"]},
    )
    with pytest.raises(PasskeyDeclined):
        method(Person(tab)).unlock(enrollment.args, CONTEXT)


def test_closing_the_page_stops_the_wait(tab: Tab) -> None:
    tab.add_authenticator(presence=False)
    with pytest.raises(PasskeyDeclined, match="page was closed"):
        method(Person(tab, "close")).enroll(CONTEXT)


def test_a_page_left_alone_times_out(tab: Tab) -> None:
    tab.add_authenticator()
    person = Person(tab, "nothing")
    with pytest.raises(PasskeyDeclined, match="no answer from the browser page"):
        method(person, timeout=1).enroll(CONTEXT)
    # The server is gone: the page cannot post any more.
    status = tab.evaluate(
        "fetch('result', {method: 'POST', body: '{}'}).then(r => r.status, e => 'unreachable')"
    )
    assert status == "unreachable"


@pytest.fixture
def other_site() -> Iterator[str]:
    """Another page on this computer (another port): same host, other origin."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>another local page</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_another_local_page_cannot_post_a_result(tab: Tab, new_tab: Any, other_site: str) -> None:
    tab.add_authenticator()
    attacker = new_tab()
    attempts: list[Any] = []

    class Watched(Person):
        def __call__(self, url: str) -> bool:
            # Even knowing the address, a page of another origin is refused before the real one
            # answers (its request goes out: the server must be the one to refuse it).
            attacker.navigate(other_site)
            attacker.wait_for("document.title === 'another local page'")
            attempts.append(
                attacker.evaluate(
                    f"fetch({url + 'result'!r}, {{method: 'POST', mode: 'no-cors', body: "
                    "JSON.stringify({outcome: 'cancelled'})}).then(() => 'sent', () => 'failed')"
                )
            )
            return super().__call__(url)

    enrollment = method(Watched(tab)).enroll(CONTEXT)
    assert attempts == ["sent"]
    assert len(enrollment.secret) == 32  # the forged "cancelled" did not count


def test_the_url_is_on_localhost_with_a_fresh_token_each_time(tab: Tab) -> None:
    tab.add_authenticator()
    person = Person(tab)
    enrollment = method(person).enroll(CONTEXT)
    method(person).unlock(enrollment.args, CONTEXT)
    first, second = (urlsplit(url) for url in person.urls)
    assert first.hostname == second.hostname == "localhost"
    assert first.path != second.path
    assert len(first.path.strip("/")) >= 43  # 32 random bytes
