"""The browser path: a one-shot page on 127.0.0.1 that runs WebAuthn with PRF in a browser.

For platform passkeys (a phone, iCloud Keychain, Google Password Manager, Windows Hello) that
only a browser can reach. The method serves one page at ``http://localhost:<random port>/<random
token>/``, opens the browser on it, and waits for the page to post the PRF result back to this
server, and only to it. The relying party id is therefore ``localhost`` (a secure context).

The server refuses any request whose path lacks the one-time token, whose ``Host`` is not
``localhost:<port>`` (DNS rebinding) or, for the result, whose ``Origin`` is not the page's own.
It stops after one result, on cancel, or after the timeout.
"""

from __future__ import annotations

import contextlib
import hmac
import html
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from walletbackup.canonical import b64decode, b64encode
from walletbackup.errors import MalformedBackup, MethodUnavailable

from .args import CREDENTIAL_ID_SIZES, LOCALHOST, SALT_SIZE
from .errors import ALTERNATIVES, PasskeyDeclined, PasskeyNotFound

#: Opens a URL in a browser; ``False`` means it could not (``webbrowser.open`` semantics).
Opener = Callable[[str], object]
Notify = Callable[[str], None]

MAX_BODY = 8192
#: Seconds one HTTP request may take: a stalled client cannot hold a thread for long.
REQUEST_SECONDS = 10
OUTCOMES = frozenset({"ok", "no-prf", "cancelled", "closed", "unsupported", "error"})
_PAGE = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


class BrowserCeremony:
    """PRF ceremonies through a browser page; one server per ceremony."""

    def __init__(self, opener: Opener, timeout: float, notify: Notify, purpose: str) -> None:
        self._opener = opener
        self._timeout = timeout
        self._notify = notify
        self._purpose = purpose

    def create(self, user_name: str, salt: bytes) -> tuple[bytes, bytes]:
        """Make a new passkey for rp id ``localhost``; return its id and the PRF result."""
        result = self._run(
            {
                "mode": "create",
                "userId": b64encode(os.urandom(16)),
                "userName": user_name,
                "salt": b64encode(salt),
            }
        )
        return result.credential_id, result.first

    def evaluate(self, credential_id: bytes, salt: bytes) -> bytes:
        """The PRF result of passkey ``credential_id`` for ``salt``."""
        if len(salt) != SALT_SIZE:
            raise ValueError("the PRF salt must be 32 bytes")
        result = self._run(
            {
                "mode": "get",
                "credentialId": b64encode(credential_id),
                "salt": b64encode(salt),
            }
        )
        if not hmac.compare_digest(result.credential_id, credential_id):
            raise PasskeyNotFound("the browser answered with another passkey than the one asked")
        return result.first

    def _run(self, request: dict[str, Any]) -> _Result:
        config = {
            **request,
            "rpId": LOCALHOST,
            "challenge": b64encode(os.urandom(32)),
            "timeoutMs": round(self._timeout * 1000),
            "purpose": self._purpose,
        }
        exchange = _Exchange(token=secrets.token_urlsafe(32), config=config)
        server = _Server(exchange)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="walletbackup-passkey-page",
        )
        thread.start()
        try:
            url = f"http://{exchange.host}/{exchange.token}/"
            self._notify(
                f"Opening your browser to {self._purpose}. If it does not open, open this "
                f"address in a browser on this computer: {url} (waiting up to "
                f"{self._timeout:g} s)"
            )
            try:
                opened = self._opener(url)
            except Exception as exc:
                raise MethodUnavailable(
                    f"could not open a web browser ({type(exc).__name__}); {ALTERNATIVES}"
                ) from exc
            if opened is False:
                self._notify(f"No browser could be started: open {url} yourself.")
            if not exchange.done.wait(self._timeout):
                raise PasskeyDeclined(
                    f"no answer from the browser page within {self._timeout:g} s: it was not "
                    "opened, or the passkey was not used in time; retry"
                )
        finally:
            exchange.finish()
            server.stop()
            thread.join(timeout=REQUEST_SECONDS)
        assert exchange.result is not None  # done is set only with a result
        return _outcome(exchange.result)


@dataclass(frozen=True)
class _Result:
    credential_id: bytes
    first: bytes = field(repr=False)


@dataclass
class _Exchange:
    """What the request handlers and the waiting ceremony share."""

    token: str
    config: dict[str, Any]
    port: int = 0
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    result: dict[str, Any] | None = field(default=None, repr=False)
    finished: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def page(self) -> bytes:
        config = json.dumps(self.config, separators=(",", ":"))
        # Inside <script>, "<" could end the element: JSON allows it escaped.
        config = config.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        text = _PAGE.replace("__NONCE__", html.escape(self.nonce)).replace("__CONFIG__", config)
        return text.encode("utf-8")

    def finish(self) -> None:
        """No answer counts any more: the page is told so (409/410), not "done"."""
        with self.lock:
            self.finished = True

    def accept(self, result: dict[str, Any]) -> bool:
        """Record the first result; later ones are refused."""
        with self.lock:
            if self.finished or self.result is not None:
                return False
            self.result = result
        self.done.set()
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, exchange: _Exchange) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        exchange.port = self.server_address[1]
        self.exchange = exchange
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def stop(self) -> None:
        """Stop serving, and cut the connections a browser opened ahead of time.

        Browsers pre-connect idle sockets; without this, a handler thread waiting on one could
        still answer a request after the ceremony ended.
        """
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections, self._connections = set(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_SECONDS
    server_version = "walletbackup-passkey"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: request lines carry the one-time token."""

    def do_GET(self) -> None:
        exchange = self.server.exchange
        refusal = self._refusal(f"/{exchange.token}/")
        if refusal is not None:
            return self._refuse(*refusal)
        self._send(
            200,
            exchange.page(),
            "text/html; charset=utf-8",
            {
                "Content-Security-Policy": (
                    f"default-src 'none'; script-src 'nonce-{exchange.nonce}'; "
                    f"style-src 'nonce-{exchange.nonce}'; connect-src 'self'; base-uri 'none'; "
                    "form-action 'none'; frame-ancestors 'none'"
                ),
                "Referrer-Policy": "no-referrer",
                "Cross-Origin-Opener-Policy": "same-origin",
            },
        )
        return None

    def do_POST(self) -> None:
        refusal = self._refusal(f"/{self.server.exchange.token}/result") or self._post_refusal()
        if refusal is not None:
            return self._refuse(*refusal)
        length = int(self.headers["Content-Length"])
        result = _parse_result(self.rfile.read(length))
        if result is None:
            return self._refuse(400, "malformed result")
        if not self.server.exchange.accept(result):
            return self._refuse(409, "already answered")
        self._send(200, b'{"ok":true}', "application/json", {})
        return None

    def _refusal(self, path: str) -> tuple[int, str] | None:
        """Why any request is refused: ceremony over, wrong Host (DNS rebinding), no token."""
        if self.server.exchange.finished:
            return 410, "finished"
        if not _same(self.headers.get("Host", ""), self.server.exchange.host):
            return 403, "wrong Host"
        if not _same(self.path, path):
            return 404, "not found"
        return None

    def _post_refusal(self) -> tuple[int, str] | None:
        """Why a result post is refused before its body is read: not from the page, too big."""
        if not _same(self.headers.get("Origin", ""), f"http://{self.server.exchange.host}"):
            return 403, "wrong Origin"
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind not in ("application/json", "text/plain"):
            return 415, "JSON expected"
        length = self.headers.get("Content-Length", "")
        if not (length.isascii() and length.isdigit()) or not 0 < int(length) <= MAX_BODY:
            return 411, "a Content-Length of 1 to 8192 bytes is required"
        return None

    def _refuse(self, status: int, reason: str) -> None:
        self._send(status, json.dumps({"error": reason}).encode(), "application/json", {})

    def _send(self, status: int, body: bytes, kind: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {
            "Content-Type": kind,
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Connection": "close",
            **headers,
        }.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def _parse_result(body: bytes) -> dict[str, Any] | None:
    """The page's answer, checked field by field; None when malformed."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(value, dict) or value.get("outcome") not in OUTCOMES:
        return None
    if value["outcome"] == "ok":
        try:
            credential_id = b64decode(value.get("credentialId"), CREDENTIAL_ID_SIZES)
            first = b64decode(value.get("first"), SALT_SIZE)
        except MalformedBackup:
            return None
        return {"outcome": "ok", "credential_id": credential_id, "first": first}
    detail = value.get("detail", "")
    if not isinstance(detail, str):
        return None
    # Browser text ends up in an error message: printable and short only.
    clean = "".join(c for c in detail if c.isprintable())[:200]
    return {"outcome": value["outcome"], "detail": clean}


def _outcome(result: dict[str, Any]) -> _Result:
    outcome, detail = result["outcome"], result.get("detail", "")
    if outcome == "ok":
        return _Result(result["credential_id"], result["first"])
    if outcome == "no-prf":
        raise MethodUnavailable(
            "your browser or passkey provider gave no PRF result: it cannot derive keys from "
            f"passkeys. Use one that can (see docs/methods/passkey.md), or {ALTERNATIVES}"
        )
    if outcome == "cancelled":
        raise PasskeyDeclined(
            "the passkey request was cancelled, no passkey was chosen, or verification failed "
            "(browsers report these alike); retry, or recover with another method"
        )
    if outcome == "closed":
        raise PasskeyDeclined("the browser page was closed before the passkey answered")
    if outcome == "unsupported":
        raise MethodUnavailable(
            f"this browser cannot use passkeys here ({detail}); use a current Chrome, Edge, "
            f"Safari or Firefox, or {ALTERNATIVES}"
        )
    raise MethodUnavailable(f"the browser reported an error ({detail}); retry, or {ALTERNATIVES}")
