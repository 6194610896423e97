"""A loopback fake of the iCloud web endpoints that pyicloud's session check and Drive service call.

HTTPS on 127.0.0.1 (a throwaway certificate), a random port, one thread per connection, every
socket read bounded. Per Apple ID it keeps tokens, an iCloud Drive tree with a Recently Deleted,
and uploaded contents. Tests inject faults (an HTTP status, a dropped connection before the
answer, after the change was applied, or half-way through a body, a stalled answer) and change
the drive behind the method's back (delete, replace, alter, rename).

Apple's sign-in (SRP, two-factor) is not faked here: pyicloud's sign-in hosts are fixed, and
tests stand in for the service object at that level (see icloud_signin.FakeSignIn).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from loopback_tls import self_signed

ZONE = "com.apple.CloudDocs"
ROOT_ID = f"FOLDER::{ZONE}::root"
TRASH_ID = f"FOLDER::{ZONE}::TRASH_ROOT"
SOCKET_TIMEOUT = 10.0
STALL_LIMIT = 5.0

# Path patterns -> route names (what faults and the request log refer to).
_ROUTES = [
    (
        re.compile(
            r"/setup/ws/1/(validate|accountLogin|requestWebAccessState|requestPCS|"
            r"enableDeviceConsentForPCS|logout)"
        ),
        None,
    ),
    (re.compile(r"/drivews/(retrieveItemDetailsInFolders|createFolders|deleteItems)"), None),
    (
        re.compile(rf"/docws/ws/{re.escape(ZONE)}/(upload/web|update/documents|download/by_id)"),
        None,
    ),
    (
        re.compile(r"/content/(?P<account>[0-9a-f]+)/(?P<kind>upload|download)/(?P<doc>[\w-]+)"),
        "content/",
    ),
    (re.compile(r"/test/(sign-in)"), "test/"),
]


def make_tls(directory: Path) -> tuple[Path, Path]:
    """The fake's certificate for 127.0.0.1 (it is its own CA) and its key, as PEM files."""
    return self_signed(directory, "fake-icloud")


@dataclass
class Item:
    """One iCloud Drive item, as the drivews endpoints describe it."""

    drivewsid: str
    docwsid: str
    name: str
    type: str  # "FOLDER" or "FILE"
    parent: str
    extension: str | None = None
    content: bytes = b""
    etag: str = field(default_factory=lambda: secrets.token_hex(3))
    trashed: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.name}.{self.extension}" if self.extension else self.name

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "drivewsid": self.drivewsid,
            "docwsid": self.docwsid,
            "zone": ZONE,
            "name": self.name,
            "parentId": TRASH_ID if self.trashed else self.parent,
            "etag": self.etag,
            "type": self.type,
        }
        if self.type == "FILE":
            out["size"] = len(self.content)
            if self.extension:
                out["extension"] = self.extension
        if self.trashed:
            out["restorePath"] = self.full_name
        return out


@dataclass
class Account:
    """One Apple ID: its tokens and its iCloud Drive."""

    apple_id: str
    dsid: str
    key: str  # in content URLs
    session_token: str | None = None  # long-lived; renews the cookies (accountLogin)
    web_token: str | None = None  # the X-APPLE-WEBAUTH-TOKEN cookie
    validate_token: str | None = None  # the t= of the X-APPLE-WEBAUTH-VALIDATE cookie
    trust_token: str | None = None
    web_access: bool = True  # False: Advanced Data Protection without web access
    items: dict[str, Item] = field(default_factory=dict)
    uploads: dict[str, str] = field(default_factory=dict)  # document id -> file name
    blobs: dict[str, bytes] = field(default_factory=dict)  # receipt -> content

    def children(self, parent: str) -> list[Item]:
        return [i for i in self.items.values() if i.parent == parent and not i.trashed]

    def by_docwsid(self, docwsid: str) -> Item | None:
        return next((i for i in self.items.values() if i.docwsid == docwsid), None)


@dataclass
class Fault:
    route: str
    times: int
    status: int | None = None  # answer with this status
    json_body: bool = True
    drop: bool = False  # close the connection without an answer
    after_apply: bool = False  # ... after the change was made
    mid_body: bool = False  # send half the body, then close
    stall: float = 0.0  # answer this many seconds late


class FakeICloud:
    """The fake: start() it, point pyicloud at root, inspect and break things."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.ca = cert  # clients trust the certificate itself
        self._lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.log: list[str] = []
        self.faults: list[Fault] = []
        self._release = threading.Event()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.root = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> FakeICloud:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive(), "the fake iCloud server did not stop"

    def url(self, path: str) -> str:
        return self.root + path

    # --- accounts and sessions -----------------------------------------------------------

    def add_account(self, apple_id: str) -> Account:
        with self._lock:
            account = Account(
                apple_id,
                dsid=str(10**9 + len(self.accounts)),
                key=hashlib.sha256(apple_id.encode()).hexdigest()[:16],
            )
            account.items[ROOT_ID] = Item(ROOT_ID, "root", "", "FOLDER", parent="")
            self.accounts[apple_id] = account
            return account

    def expire_cookies(self, apple_id: str) -> None:
        """The web cookies lapse; the session token can still renew them."""
        with self._lock:
            self.accounts[apple_id].web_token = None

    def expire_session(self, apple_id: str) -> None:
        """Everything lapses: only a new sign-in helps."""
        with self._lock:
            account = self.accounts[apple_id]
            account.web_token = account.session_token = account.trust_token = None

    def count(self, route: str) -> int:
        with self._lock:
            return self.log.count(route)

    # --- faults ------------------------------------------------------------------------------

    def fail(self, route: str, status: int, times: int = 1, json_body: bool = True) -> None:
        self._add(Fault(route, times, status=status, json_body=json_body))

    def drop(
        self, route: str, times: int = 1, *, after_apply: bool = False, mid_body: bool = False
    ) -> None:
        self._add(Fault(route, times, drop=True, after_apply=after_apply, mid_body=mid_body))

    def stall(self, route: str, seconds: float, times: int = 1) -> None:
        self._add(Fault(route, times, stall=min(seconds, STALL_LIMIT)))

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def _take(self, route: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.route == route and fault.times > 0:
                    fault.times -= 1
                    return fault
            return None

    # --- the drive, behind the method's back -------------------------------------------------

    def folder(self, apple_id: str, name: str) -> Item | None:
        with self._lock:
            return next(
                (
                    i
                    for i in self.accounts[apple_id].children(ROOT_ID)
                    if i.full_name == name and i.type == "FOLDER"
                ),
                None,
            )

    def files(self, apple_id: str, folder_name: str) -> list[Item]:
        with self._lock:
            folder = self.folder(apple_id, folder_name)
            if folder is None:
                return []
            return sorted(
                self.accounts[apple_id].children(folder.drivewsid), key=lambda item: item.full_name
            )

    def trash(self, apple_id: str) -> list[Item]:
        with self._lock:
            return [i for i in self.accounts[apple_id].items.values() if i.trashed]

    def item(self, apple_id: str, drivewsid: str) -> Item:
        with self._lock:
            return self.accounts[apple_id].items[drivewsid]

    def put_file(self, apple_id: str, folder_id: str, full_name: str, content: bytes) -> Item:
        with self._lock:
            account = self.accounts[apple_id]
            return self._new_file(account, account.items[folder_id], full_name, content)

    def delete_behind(self, apple_id: str, drivewsid: str, *, purge: bool = False) -> None:
        with self._lock:
            account = self.accounts[apple_id]
            if purge:
                del account.items[drivewsid]
            else:
                account.items[drivewsid].trashed = True

    def replace_behind(self, apple_id: str, drivewsid: str) -> Item:
        """Delete the file for good and put a different one under the same name."""
        with self._lock:
            account = self.accounts[apple_id]
            old = account.items.pop(drivewsid)
            return self._new_file(
                account,
                account.items[old.parent],
                old.full_name,
                secrets.token_bytes(len(old.content)),
            )

    def alter_behind(self, apple_id: str, drivewsid: str, content: bytes) -> None:
        """Edit the file in place: same item, new content, new etag."""
        with self._lock:
            item = self.accounts[apple_id].items[drivewsid]
            item.content, item.etag = content, secrets.token_hex(3)

    def rename_behind(self, apple_id: str, drivewsid: str, full_name: str) -> None:
        with self._lock:
            item = self.accounts[apple_id].items[drivewsid]
            item.name, _, item.extension = full_name.rpartition(".")
            item.etag = secrets.token_hex(3)

    def _new_file(self, account: Account, folder: Item, full_name: str, content: bytes) -> Item:
        stem, dot, extension = full_name.rpartition(".")
        if not dot:
            stem, extension = full_name, ""
        taken = {i.full_name for i in account.children(folder.drivewsid)}
        copy = 1
        while (f"{stem}.{extension}" if extension else stem) in taken:
            copy += 1  # iCloud keeps both: "name 2.ext" (allow_conflict)
            stem = f"{full_name.rpartition('.')[0] or full_name} {copy}"
        doc = str(uuid.uuid4()).upper()
        item = Item(
            f"FILE::{ZONE}::{doc}",
            doc,
            stem,
            "FILE",
            parent=folder.drivewsid,
            extension=extension or None,
            content=content,
        )
        account.items[item.drivewsid] = item
        return item

    # --- serving -------------------------------------------------------------------------------

    def serve(self, request: _Handler) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        route, match = _route(parts.path)
        if route is None or match is None:
            request.reply(404, {"error": "no such endpoint"})
            return
        with self._lock:
            self.log.append(route)
        fault = self._take(route)
        if fault is not None and fault.stall:
            self._release.wait(fault.stall)
        if fault is not None and fault.status is not None:
            if fault.json_body:
                request.reply(fault.status, {"error": f"injected {fault.status}"})
            else:
                request.reply_raw(fault.status, b"injected", "text/plain")
            return
        if fault is not None and fault.drop and not fault.after_apply and not fault.mid_body:
            request.close_connection = True
            return
        cookies = _cookies(request.headers.get("Cookie", ""))
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            answer = self._answer(
                route, match, body, cookies, query, request.headers.get("Content-Type", "")
            )
        if fault is not None and fault.drop and fault.after_apply:
            request.close_connection = True
            return
        status, payload, headers = answer
        if fault is not None and fault.mid_body and isinstance(payload, bytes):
            request.reply_half(status, payload)
            return
        if isinstance(payload, bytes):
            request.reply_raw(status, payload, "application/octet-stream", headers)
        else:
            request.reply(status, payload, headers)

    def _answer(
        self,
        route: str,
        match: re.Match[str],
        body: bytes,
        cookies: dict[str, str],
        query: dict[str, str],
        content_type: str,
    ) -> _Answer:
        if route == "test/sign-in":
            return self._sign_in(json.loads(body)["apple_id"])
        if route == "accountLogin":
            return self._account_login(json.loads(body))
        if route.startswith("content/"):
            account = next(
                (a for a in self.accounts.values() if a.key == match.group("account")), None
            )
            if account is None:
                return 404, {"error": "unknown content"}, []
            return self._content(account, route, match.group("doc"), body, content_type)
        account = next(
            (
                a
                for a in self.accounts.values()
                if a.web_token and cookies.get("X-APPLE-WEBAUTH-TOKEN") == a.web_token
            ),
            None,
        )
        if account is None:
            return 421, {"error": "Authentication required"}, []
        handlers: dict[str, Callable[[], _Answer]] = {
            "validate": lambda: (200, self._account_data(account, trusted=True), []),
            "requestWebAccessState": lambda: (
                200,
                {
                    "isICDRSDisabled": not account.web_access,
                    "isDeviceConsentedForPCS": account.web_access,
                },
                [],
            ),
            "enableDeviceConsentForPCS": lambda: (
                200,
                {"isDeviceConsentNotificationSent": False},
                [],
            ),
            "logout": lambda: self._logout(account),
            "retrieveItemDetailsInFolders": lambda: (200, self._details(account, body), []),
            "createFolders": lambda: (200, self._create_folders(account, body), []),
            "deleteItems": lambda: (200, self._delete(account, body), []),
            "upload/web": lambda: self._upload_web(account, body, query),
            "update/documents": lambda: self._update_documents(account, body),
            "download/by_id": lambda: self._download(account, query),
        }
        handler = handlers.get(route)
        if handler is None:
            return 404, {"error": f"{route} is not faked"}, []
        return handler()

    # --- setup endpoints ---------------------------------------------------------------------

    def _account_data(self, account: Account, trusted: bool) -> dict[str, Any]:
        return {
            "dsInfo": {"dsid": account.dsid, "hsaVersion": 2, "appleId": account.apple_id},
            "hsaTrustedBrowser": trusted,
            "hsaChallengeRequired": False,
            "webservices": {
                "drivews": {"url": self.url("/drivews"), "status": "active"},
                "docws": {"url": self.url("/docws"), "status": "active"},
            },
        }

    def _cookie_headers(self, account: Account) -> list[tuple[str, str]]:
        account.web_token = f"v=2:t={secrets.token_hex(16)}"
        account.validate_token = secrets.token_hex(8)
        return [
            ("Set-Cookie", f"X-APPLE-WEBAUTH-TOKEN={account.web_token}; Path=/; Secure"),
            (
                "Set-Cookie",
                f"X-APPLE-WEBAUTH-VALIDATE=v=1:t={account.validate_token}; Path=/; Secure",
            ),
        ]

    def _sign_in(self, apple_id: str) -> _Answer:
        """What a completed sign-in leaves behind: a session token, a trust token, cookies."""
        account = self.accounts[apple_id]
        account.session_token = secrets.token_hex(16)
        account.trust_token = secrets.token_hex(16)
        return (
            200,
            {"ok": True},
            [
                ("X-Apple-Session-Token", account.session_token),
                ("X-Apple-TwoSV-Trust-Token", account.trust_token),
                ("X-Apple-ID-Account-Country", "USA"),
                *self._cookie_headers(account),
            ],
        )

    def _account_login(self, request: dict[str, Any]) -> _Answer:
        token = request.get("dsWebAuthToken")
        account = next(
            (a for a in self.accounts.values() if a.session_token and a.session_token == token),
            None,
        )
        if account is None:
            return 421, {"error": "Authentication required"}, []
        trusted = bool(account.trust_token) and request.get("trustToken") == account.trust_token
        return 200, self._account_data(account, trusted), self._cookie_headers(account)

    def _logout(self, account: Account) -> _Answer:
        account.web_token = account.session_token = account.trust_token = None
        return 200, {"success": True}, []

    # --- drivews -------------------------------------------------------------------------------

    def _details(self, account: Account, body: bytes) -> list[dict[str, Any]]:
        out = []
        for wanted in json.loads(body):
            node_id = wanted["drivewsid"]
            if node_id == TRASH_ID:
                trashed = [
                    i
                    for i in account.items.values()
                    if i.trashed
                    and not (i.parent in account.items and account.items[i.parent].trashed)
                ]
                out.append(
                    {
                        "drivewsid": "TRASH_ROOT",
                        "items": [i.data() for i in trashed],
                        "numberOfItems": len(trashed),
                    }
                )
                continue
            node = account.items.get(node_id)
            if node is None or node.trashed or node.type != "FOLDER":
                out.append({"drivewsid": node_id, "status": "ID_INVALID"})
                continue
            children = account.children(node_id)
            out.append(
                {
                    **node.data(),
                    "items": [i.data() for i in children],
                    "numberOfItems": len(children),
                }
            )
        return out

    def _create_folders(self, account: Account, body: bytes) -> dict[str, Any]:
        request = json.loads(body)
        parent = request["destinationDrivewsId"]
        created = []
        for folder in request["folders"]:
            doc = str(uuid.uuid4()).upper()
            item = Item(f"FOLDER::{ZONE}::{doc}", doc, folder["name"], "FOLDER", parent=parent)
            account.items[item.drivewsid] = item
            created.append({**item.data(), "clientId": folder["clientId"], "status": "OK"})
        return {"destinationDrivewsId": parent, "folders": created}

    def _delete(self, account: Account, body: bytes) -> dict[str, Any]:
        results = []
        for wanted in json.loads(body)["items"]:
            item = account.items.get(wanted["drivewsid"])
            if item is None:
                results.append({"drivewsid": wanted["drivewsid"], "status": "NOT_FOUND"})
            elif item.etag != wanted["etag"]:
                results.append({"drivewsid": item.drivewsid, "status": "ETAG_CONFLICT"})
            elif item.trashed:
                del account.items[item.drivewsid]  # "delete forever" from Recently Deleted
                results.append({**item.data(), "isDeleted": True, "status": "OK"})
            else:
                item.trashed, item.etag = True, secrets.token_hex(3)
                results.append({**item.data(), "status": "OK"})
        return {"items": results}

    # --- docws and content -----------------------------------------------------------------------

    def _upload_web(self, account: Account, body: bytes, query: dict[str, str]) -> _Answer:
        if not account.validate_token or query.get("token") != account.validate_token:
            return 401, {"error": "bad validation token"}, []
        doc = str(uuid.uuid4()).upper()
        account.uploads[doc] = json.loads(body)["filename"]
        return (
            200,
            [{"document_id": doc, "url": self.url(f"/content/{account.key}/upload/{doc}")}],
            [],
        )

    def _update_documents(self, account: Account, body: bytes) -> _Answer:
        request = json.loads(body)
        data = request["data"]
        content = account.blobs.pop(data["receipt"])
        if data["signature"] != hashlib.sha256(content).hexdigest() or data["size"] != len(content):
            return 400, {"error": "signature mismatch"}, []
        folder = account.by_docwsid(request["path"]["starting_document_id"])
        if folder is None or folder.trashed:
            return 404, {"error": "no such folder"}, []
        item = self._new_file(account, folder, request["path"]["path"], content)
        account.items.pop(item.drivewsid)  # the document id was chosen at upload/web
        doc = request["document_id"]
        item.docwsid, item.drivewsid = doc, f"FILE::{ZONE}::{doc}"
        account.items[item.drivewsid] = item
        return 200, {"status": {"status_code": 200}, "results": [{"document": item.data()}]}, []

    def _download(self, account: Account, query: dict[str, str]) -> _Answer:
        item = account.by_docwsid(query.get("document_id", ""))
        if item is None or item.trashed or item.type != "FILE":
            return 404, {"error": "no such document"}, []
        url = self.url(f"/content/{account.key}/download/{item.docwsid}")
        return 200, {"document_id": item.docwsid, "data_token": {"url": url}}, []

    def _content(
        self, account: Account, route: str, doc: str, body: bytes, content_type: str
    ) -> _Answer:
        if route == "content/download":
            item = account.by_docwsid(doc)
            if item is None or item.trashed:
                return 404, {"error": "gone"}, []
            return 200, item.content, []
        if doc not in account.uploads:
            return 404, {"error": "unknown upload"}, []
        content = _multipart_file(body, content_type)
        receipt = secrets.token_hex(8)
        account.blobs[receipt] = content
        return (
            200,
            {
                "singleFile": {
                    "fileChecksum": hashlib.sha256(content).hexdigest(),
                    "wrappingKey": "wk==",
                    "referenceChecksum": "ref",
                    "size": len(content),
                    "receipt": receipt,
                }
            },
            [],
        )


_Answer = tuple[int, Any, list[tuple[str, str]]]


def _route(path: str) -> tuple[str | None, re.Match[str] | None]:
    for pattern, prefix in _ROUTES:
        match = pattern.fullmatch(path)
        if match:
            if prefix == "content/":
                return prefix + match.group("kind"), match
            return (prefix or "") + match.group(1), match
    return None, None


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq:
            out[name] = value.strip('"')
    return out


def _multipart_file(body: bytes, content_type: str) -> bytes:
    """The one file in a multipart/form-data body, byte for byte."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if found is None:
        raise ValueError("not multipart/form-data")
    for part in body.split(b"--" + found.group(1).encode()):
        head, blank, data = part.partition(b"\r\n\r\n")
        if blank and b"filename=" in head:
            return data.removesuffix(b"\r\n")
    raise ValueError("no file in the upload")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 32

    def __init__(self, address: tuple[str, int], handler: type[_Handler], fake: FakeICloud) -> None:
        self.fake = fake
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (timeouts, dropped-connection faults) is expected


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes: without this, Nagle's algorithm and delayed
        # ACKs hold every answer back for tens of milliseconds.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self.server.fake.serve(self)

    def do_POST(self) -> None:
        self.server.fake.serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, payload: Any, headers: Sequence[tuple[str, str]] = ()) -> None:
        self.reply_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def reply_raw(
        self, status: int, data: bytes, content_type: str, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def reply_half(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True
