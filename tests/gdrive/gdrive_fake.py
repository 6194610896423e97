"""A loopback fake of Google: the OAuth endpoints (auth, token, revoke) and the Drive v3 calls.

It behaves like the real services where walletbackup-gdrive depends on it: bearer tokens are
checked (unknown or expired: 401; no drive.appdata scope: 403 with ErrorInfo and a
WWW-Authenticate challenge); the appDataFolder is private to one Google account *and* one OAuth
client's Cloud project; multipart uploads are parsed by RFC 2046 delimiters, never by searching
for the boundary; the token endpoint takes HTTP Basic or body client authentication and checks
PKCE. Faults are injected per request ("METHOD /path" prefix): an HTTP status with a Google error
body, a dropped connection, or a hang; each before or after the request has taken effect.

Bounded: 127.0.0.1 on a random port, a socket timeout on every connection, hangs capped at
HANG_LIMIT seconds and released at stop().
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

SCOPE = "https://www.googleapis.com/auth/drive.appdata"
FULL_DRIVE = "https://www.googleapis.com/auth/drive"
_SCOPE_CHALLENGE = (
    f'Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="{SCOPE}"'
)
HANG_LIMIT = 5.0
SOCKET_TIMEOUT = 10.0

_QUOTED = r"'((?:[^'\\]|\\.)*)'"
_CONDITIONS = (
    ("name", re.compile(rf"name = {_QUOTED}")),
    ("property", re.compile(rf"appProperties has \{{ key={_QUOTED} and value={_QUOTED} \}}")),
    ("untrashed", re.compile(r"trashed = false")),
)


@dataclass
class Fault:
    """What to do instead of (or after) serving the next ``count`` matching requests."""

    match: str  # prefix of "METHOD /path", e.g. "POST /upload" or "GET /drive/v3/files/"
    status: int = 0  # reply with this HTTP status (for action "reply")
    reason: str = ""  # the Google error reason in the JSON body
    headers: dict[str, str] = field(default_factory=dict)
    # "reply"; "drop" (close without a reply); "hang"; "garble" (serve it with a byte flipped)
    action: str = "reply"
    after: bool = False  # carry the request out first: the client cannot tell it happened
    count: int = 1


@dataclass
class StoredFile:
    id: str
    name: str
    owner: tuple[str, str]  # (Google account, Cloud project)
    app_properties: dict[str, str]
    description: str
    mime_type: str
    data: bytes
    created: str


@dataclass
class Grant:
    user: str
    client_id: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass
class Upload:
    boundary: str
    body: bytes


class FakeGoogle:
    """The fake's state, its fault queue, and the server thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.clients: dict[str, tuple[str, str]] = {}  # client_id -> (secret, project)
        self.grants: dict[str, Grant] = {}  # refresh token -> grant
        self.access: dict[str, str] = {}  # access token -> refresh token
        self.codes: dict[str, dict[str, Any]] = {}
        self.files: dict[str, StoredFile] = {}
        self.faults: list[Fault] = []
        self.requests: list[str] = []  # "METHOD /path" of every request, in order
        self.uploads: list[Upload] = []
        self.refreshes = 0
        self.revocations: list[str] = []
        self.bearers: list[str] = []  # the access token of every Drive request
        self.media_reads = 0  # downloads of a file's content (alt=media)
        self.client_auth: list[str] = []  # "basic" or "body", per token request
        self.rotate_refresh_tokens = False  # a refresh also replaces the refresh token
        # The sign-in page: which account "logs in", and how it answers.
        self.browser_user = "alice"
        self.consent = "allow"  # "allow", "deny", "tamper-state" or "narrow-scope"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- life cycle and helpers for tests ----------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def start(self) -> FakeGoogle:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def add_client(self, client_id: str, secret: str, project: str | None = None) -> None:
        self.clients[client_id] = (secret, project or f"project-of-{client_id}")

    def grant(self, client_id: str, user: str = "alice", scopes: tuple[str, ...] = (SCOPE,)) -> str:
        """A refresh token, as if ``user`` had signed in to ``client_id`` and consented."""
        token = "1//refresh-" + secrets.token_urlsafe(24)
        with self.lock:
            self.grants[token] = Grant(user, client_id, scopes)
        return token

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access.clear()

    def count(self, prefix: str) -> int:
        with self.lock:
            return sum(1 for line in self.requests if line.startswith(prefix))

    def files_of(self, user: str = "alice", client_id: str | None = None) -> list[StoredFile]:
        with self.lock:
            return [
                f
                for f in self.files.values()
                if f.owner[0] == user
                and (client_id is None or f.owner[1] == self.clients[client_id][1])
            ]

    def corrupt(self, file_id: str) -> None:
        with self.lock:
            stored = self.files[file_id]
            stored.data = bytes([stored.data[0] ^ 0x01]) + stored.data[1:]

    def remove(self, file_id: str) -> None:
        with self.lock:
            del self.files[file_id]

    def remove_app(self, user: str, client_id: str) -> None:
        """The user removes the app: its grants end and its appDataFolder is deleted."""
        project = self.clients[client_id][1]
        with self.lock:
            for grant in self.grants.values():
                if grant.user == user and self.clients[grant.client_id][1] == project:
                    grant.revoked = True
            self.files = {k: f for k, f in self.files.items() if f.owner != (user, project)}

    # --- request handling (server threads) ---------------------------------------------

    def take_fault(self, line: str) -> Fault | None:
        with self.lock:
            self.requests.append(line)
            for fault in self.faults:
                if fault.count > 0 and line.startswith(fault.match):
                    fault.count -= 1
                    return fault
        return None


def _handler_for(fake: FakeGoogle) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.fake = fake
    return Handler


class _Reply(Exception):
    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}


def _error(
    status: int,
    reason: str,
    message: str,
    *,
    status_name: str = "",
    info_reason: str = "",
    headers: dict[str, str] | None = None,
) -> _Reply:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "errors": [{"domain": "global", "reason": reason, "message": message}],
    }
    if status_name:
        error["status"] = status_name
    if info_reason:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": info_reason,
                "domain": "googleapis.com",
            }
        ]
    return _Reply(status, json.dumps({"error": error}).encode(), headers=headers)


def _oauth_error(status: int, error: str, description: str) -> _Reply:
    return _Reply(status, json.dumps({"error": error, "error_description": description}).encode())


def _json(status: int, document: Any) -> _Reply:
    return _Reply(status, json.dumps(document).encode())


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGoogle
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read fake.requests instead

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        fault = self.fake.take_fault(f"{method} {parts.path}")
        if fault is not None and not fault.after and fault.action != "garble":
            self._fail(fault)
            return
        try:
            reply = self._route(method, parts.path, query, body)
        except _Reply as raised:
            reply = raised
        if fault is not None and fault.action == "garble" and reply.body:
            reply.body = bytes([reply.body[0] ^ 0x80]) + reply.body[1:]
        elif fault is not None:
            self._fail(fault)
            return
        self._send(reply)

    def _fail(self, fault: Fault) -> None:
        if fault.action == "drop":
            self.close_connection = True
            return
        if fault.action == "hang":
            self.fake.stopping.wait(HANG_LIMIT)
            self.close_connection = True
            return
        messages = {
            401: "Request had invalid authentication credentials.",
            429: "Too many requests.",
            403: "Forbidden.",
        }
        reply = _error(
            fault.status,
            fault.reason or "backendError",
            messages.get(fault.status, "Backend Error"),
            info_reason=fault.reason if fault.status == 403 else "",
            headers=fault.headers,
        )
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status != 204:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    # --- routes ------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, str], body: bytes) -> _Reply:
        if (method, path) == ("GET", "/o/oauth2/auth"):
            return self._authorize(query)
        if (method, path) == ("POST", "/token"):
            return self._token(_form(body))
        if (method, path) == ("POST", "/revoke"):
            return self._revoke(_form(body) | query)
        if (method, path) == ("POST", "/upload/drive/v3/files"):
            return self._upload(self._drive_owner(), query, body)
        if (method, path) == ("GET", "/drive/v3/files"):
            return self._list(self._drive_owner(), query)
        match = re.fullmatch(r"/drive/v3/files/([A-Za-z0-9_-]+)", path)
        if match and method in ("GET", "DELETE"):
            owner = self._drive_owner()
            stored = self.fake.files.get(match[1])
            if stored is None or stored.owner != owner:
                raise _error(404, "notFound", f"File not found: {match[1]}.")
            if method == "DELETE":
                with self.fake.lock:
                    self.fake.files.pop(stored.id, None)
                return _Reply(204)
            if query.get("alt") == "media":
                with self.fake.lock:
                    self.fake.media_reads += 1
                return _Reply(200, stored.data, "application/octet-stream")
            return _json(200, _describe(stored))
        return _error(404, "notFound", "Not Found")

    def _authorize(self, query: dict[str, str]) -> _Reply:
        fake = self.fake
        client_id, redirect = query.get("client_id", ""), query.get("redirect_uri", "")
        if client_id not in fake.clients or not redirect.startswith("http://127.0.0.1:"):
            return _oauth_error(400, "invalid_request", "bad client_id or redirect_uri")
        state = query.get("state", "")
        if fake.consent == "deny":
            params = {"error": "access_denied", "state": state}
        else:
            code = "4/code-" + secrets.token_urlsafe(16)
            scopes = tuple(query.get("scope", "").split())
            with fake.lock:
                fake.codes[code] = {
                    "client_id": client_id,
                    "redirect_uri": redirect,
                    "user": fake.browser_user,
                    "challenge": query.get("code_challenge"),
                    "scopes": ("openid",) if fake.consent == "narrow-scope" else scopes,
                }
            params = {
                "code": code,
                "scope": " ".join(scopes),
                "state": state + ("x" if fake.consent == "tamper-state" else ""),
            }
        return _Reply(302, b"", "text/plain", {"Location": f"{redirect}?{urlencode(params)}"})

    def _client(self, form: dict[str, str]) -> str:
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            self.fake.client_auth.append("basic")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            self.fake.client_auth.append("body")
        known = self.fake.clients.get(client_id)
        if known is None or not secrets.compare_digest(known[0], secret):
            raise _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        return client_id

    def _token(self, form: dict[str, str]) -> _Reply:
        fake, client_id = self.fake, self._client(form)
        kind = form.get("grant_type")
        with fake.lock:
            if kind == "authorization_code":
                code = fake.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    .rstrip(b"=")
                    .decode()
                )
                if (
                    code is None
                    or code["client_id"] != client_id
                    or code["redirect_uri"] != form.get("redirect_uri")
                    or code["challenge"] != challenge
                ):
                    return _oauth_error(400, "invalid_grant", "Malformed auth code.")
                refresh = "1//refresh-" + secrets.token_urlsafe(24)
                fake.grants[refresh] = Grant(code["user"], client_id, code["scopes"])
            elif kind == "refresh_token":
                refresh = form.get("refresh_token", "")
                grant = fake.grants.get(refresh)
                if grant is None or grant.revoked or grant.client_id != client_id:
                    return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
                fake.refreshes += 1
                if fake.rotate_refresh_tokens:
                    grant.revoked = True
                    refresh = "1//refresh-" + secrets.token_urlsafe(24)
                    fake.grants[refresh] = Grant(grant.user, client_id, grant.scopes)
            else:
                return _oauth_error(400, "unsupported_grant_type", "Invalid grant_type.")
            access = "ya29.access-" + secrets.token_urlsafe(24)
            fake.access[access] = refresh
            grant = fake.grants[refresh]
        document = {
            "access_token": access,
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": " ".join(grant.scopes),
        }
        if kind == "authorization_code" or fake.rotate_refresh_tokens:
            document["refresh_token"] = refresh
        return _json(200, document)

    def _revoke(self, form: dict[str, str]) -> _Reply:
        fake, token = self.fake, form.get("token", "")
        with fake.lock:
            refresh = fake.access.get(token, token)
            grant = fake.grants.get(refresh)
            if grant is None or grant.revoked:
                return _oauth_error(400, "invalid_token", "Token expired or revoked")
            grant.revoked = True
            fake.access = {a: r for a, r in fake.access.items() if r != refresh}
            fake.revocations.append(refresh)
        return _json(200, {})

    def _drive_owner(self) -> tuple[str, str]:
        """The (account, project) whose appDataFolder this bearer token reaches."""
        fake = self.fake
        header = self.headers.get("Authorization", "")
        bearer = header.removeprefix("Bearer ")
        with fake.lock:
            fake.bearers.append(bearer)
            refresh = fake.access.get(bearer, "")
            grant = fake.grants.get(refresh)
        if not header.startswith("Bearer ") or grant is None or grant.revoked:
            raise _error(
                401,
                "authError",
                "Request had invalid authentication credentials.",
                status_name="UNAUTHENTICATED",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        if SCOPE not in grant.scopes and FULL_DRIVE not in grant.scopes:
            raise _error(
                403,
                "insufficientPermissions",
                "Request had insufficient authentication scopes.",
                status_name="PERMISSION_DENIED",
                info_reason="ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                headers={"WWW-Authenticate": _SCOPE_CHALLENGE},
            )
        return grant.user, fake.clients[grant.client_id][1]

    def _upload(self, owner: tuple[str, str], query: dict[str, str], body: bytes) -> _Reply:
        if query.get("uploadType") != "multipart":
            raise _error(400, "badRequest", "Unsupported upload type.")
        boundary, parts = _multipart(self.headers.get("Content-Type", ""), body)
        if len(parts) != 2 or not parts[0][0].get("content-type", "").startswith(
            "application/json"
        ):
            raise _error(400, "badRequest", "Multipart upload needs metadata then media.")
        metadata = json.loads(parts[0][1])
        if metadata.get("parents") != ["appDataFolder"]:
            raise _error(400, "badRequest", "The key file must go to the appDataFolder.")
        stored = StoredFile(
            id="1" + secrets.token_urlsafe(30),
            name=metadata["name"],
            owner=owner,
            app_properties=dict(metadata.get("appProperties", {})),
            description=metadata.get("description", ""),
            mime_type=parts[1][0].get("content-type", ""),
            data=parts[1][1],
            created=datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        )
        with self.fake.lock:
            self.fake.files[stored.id] = stored
            self.fake.uploads.append(Upload(boundary, body))
        return _json(200, {"id": stored.id})

    def _list(self, owner: tuple[str, str], query: dict[str, str]) -> _Reply:
        if query.get("spaces") != "appDataFolder":
            raise _error(400, "invalidParameter", "Only the appDataFolder space is faked.")
        tests = list(_parse_query(query.get("q", "")))
        with self.fake.lock:
            found = sorted(
                (
                    f
                    for f in self.fake.files.values()
                    if f.owner == owner and all(test(f) for test in tests)
                ),
                key=lambda f: f.created,
            )
        size = int(query.get("pageSize", "100"))
        start = int(query.get("pageToken", "0"))
        page = found[start : start + size]
        document: dict[str, Any] = {"files": [_describe(f) for f in page]}
        if start + size < len(found):
            document["nextPageToken"] = str(start + size)
        return _json(200, document)


def _form(body: bytes) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


def _describe(stored: StoredFile) -> dict[str, Any]:
    return {
        "id": stored.id,
        "name": stored.name,
        "appProperties": stored.app_properties,
        "createdTime": stored.created,
    }


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _parse_query(q: str) -> Iterator[Any]:
    """files.list ``q``: conditions joined by `` and `` (only those the client uses)."""
    position = 0
    while position < len(q):
        found = [(kind, m) for kind, p in _CONDITIONS if (m := p.match(q, position))]
        if not found:
            raise _error(400, "invalid", f"Invalid Value: q at {position}")
        kind, match = found[0]
        if kind == "name":
            name = _unquote(match[1])
            yield lambda f, name=name: f.name == name
        elif kind == "property":
            key, value = _unquote(match[1]), _unquote(match[2])
            yield lambda f, key=key, value=value: f.app_properties.get(key) == value
        position = match.end()
        if q.startswith(" and ", position):
            position += len(" and ")
        elif position != len(q):
            raise _error(400, "invalid", f"Invalid Value: q at {position}")


def _multipart(content_type: str, body: bytes) -> tuple[str, list[tuple[dict[str, str], bytes]]]:
    """Split a multipart body at its RFC 2046 delimiters (CRLF "--" boundary), strictly."""
    match = re.fullmatch(r'multipart/related;\s*boundary="?([^";]+)"?', content_type.strip())
    if not match:
        raise _error(400, "badContent", "Content-Type must be multipart/related with a boundary.")
    boundary = match[1].encode()
    first, delimiter = b"--" + boundary + b"\r\n", b"\r\n--" + boundary
    if not body.startswith(first):
        raise _error(400, "badContent", "The body does not start with the boundary.")
    rest, parts = b"\r\n" + body, []
    while True:
        # rest starts with a delimiter; what follows it says whether another part comes.
        rest = rest[len(delimiter) :]
        if rest.startswith(b"--"):
            if rest not in (b"--", b"--\r\n"):
                raise _error(400, "badContent", "Data after the closing boundary.")
            return boundary.decode(), parts
        if not rest.startswith(b"\r\n"):
            raise _error(400, "badContent", "A boundary must end its line.")
        end = _delimiter_at(rest, delimiter)
        if end < 0:
            raise _error(400, "badContent", "The multipart body is not closed.")
        headers_blob, separator, content = rest[2:end].partition(b"\r\n\r\n")
        if not separator:
            raise _error(400, "badContent", "A part has no header/body separator.")
        headers = {}
        for line in headers_blob.decode().split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, content))
        rest = rest[end:]


def _delimiter_at(rest: bytes, delimiter: bytes) -> int:
    """Where the next delimiter starts: only where it is followed by CRLF or "--" (RFC 2046)."""
    end = rest.find(delimiter, 2)
    while end >= 0 and rest[end + len(delimiter) : end + len(delimiter) + 2] not in (
        b"\r\n",
        b"--",
    ):
        end = rest.find(delimiter, end + 1)
    return end
