"""The custodian across HTTP: the device's client of a custodian service (``walletbackup serve``).

:class:`RemoteCustodian` speaks the service's wire (v1: docs/api.md, "A custodian service") with
the standard library alone, so a device installs no server dependency. Its messages are the
protocol's own (:func:`walletbackup.protocol.to_json` / :func:`~walletbackup.protocol.from_json`,
strict), every error answer becomes the core error its code stands for, and nothing it answers is
trusted further than the embedded custodian's answers are: the device authenticates the client
envelope itself (docs/security.md).

The user token travels in the ``Authorization`` header only: never in a ``repr``, a log line or an
error message. HTTPS verifies the certificate with the system's trust store, always; plain HTTP is
accepted for a loopback address only, unless the caller says otherwise.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import math
import re
import select
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from . import __version__
from .errors import (
    AccessDenied,
    BackupNotFound,
    MalformedBackup,
    PolicyViolation,
    StaleBackup,
    StorageError,
    WalletBackupError,
)
from .protocol import (
    Checked,
    EjectRequest,
    Proposal,
    Released,
    RevisionView,
    WalletView,
    from_json,
    to_json,
)
from .retry import RetryPolicy, Transient, call_with_retries, retry_after_seconds

log = logging.getLogger("walletbackup")

#: The most of a success answer read (a wallet view with two managed envelopes is a few KiB).
MAX_ANSWER = 4 * 1024 * 1024
#: The most of an error answer read: a code and a one-line message.
MAX_ERROR_ANSWER = 64 * 1024
#: The most characters of an abandoned revision's cause the service takes (docs/api.md).
MAX_DETAIL = 256
#: Retries of the requests that are safe to repeat: a few, within about fifteen seconds.
DEFAULT_RETRY = RetryPolicy(attempts=4, base_delay=1.0, max_delay=8.0, max_retry_after=30.0)
#: Answers worth another try of a request that is safe to repeat: the service, or the load
#: balancer in front of it, could not serve it this time (a replica restarting).
RETRIED_STATUSES = frozenset({502, 503, 504})

#: Visible ASCII: a header value nothing in it can end or split.
_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")
_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_MESSAGE = 300

#: The wire's error codes, with the status each comes with, as core errors (docs/api.md).
ERRORS: dict[tuple[str, int], type[WalletBackupError]] = {
    ("malformed", 400): MalformedBackup,
    ("unauthenticated", 401): AccessDenied,
    ("forbidden", 403): AccessDenied,
    ("not_found", 404): BackupNotFound,
    ("conflict", 409): StorageError,
    ("stale", 409): StaleBackup,
    # No eject prepared, or its delay not over: the service's policy, for now.
    ("eject_not_ready", 409): PolicyViolation,
    ("too_large", 413): MalformedBackup,
    ("policy", 422): PolicyViolation,
    ("rate_limited", 429): AccessDenied,
    ("unavailable", 503): StorageError,
}


@dataclass(frozen=True)
class _Base:
    """Where the service is: its scheme, host, port and path prefix."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def location(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if _DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"


class RemoteCustodian:
    """A custodian service, reached as the user whose token ``token`` is (a device token).

    ``url`` is the service's base URL: ``https://…``; ``http://…`` only on a loopback address
    (``localhost``, ``127.0.0.0/8``, ``::1``) unless ``allow_insecure_http=True`` (the token and
    the managed cipher texts would cross the network in clear text). The certificate of an
    ``https`` URL is always verified. ``timeout`` bounds each connect and each read (seconds);
    ``retry`` is how the requests that are safe to repeat are retried after a dropped connection,
    a timeout or a 502/503/504 answer (reads, checks, and proposals, which the service recognises
    by revision and envelope id).

    The service keeps the custodian share from devices (:attr:`releases_custodian_share` is
    false): recovery returns the client share, and the service checks its own envelope.
    """

    releases_custodian_share = False

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        allow_insecure_http: bool = False,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._base = _parse(url, allow_insecure_http=allow_insecure_http)
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise PolicyViolation(
                "token must be the user token as the application's backend gave it (visible "
                "ASCII, no spaces)"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise PolicyViolation("timeout must be a number of seconds")
        if not 0 < timeout < math.inf:
            raise PolicyViolation("timeout must be a positive, finite number of seconds")
        self.timeout = float(timeout)
        self.retry = retry
        self._token = token
        self._service = f"the custodian service at {self._base.location}"
        self._ssl = ssl.create_default_context() if self._base.scheme == "https" else None
        self._local = threading.local()
        self._guard = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()
        self._location: str | None = None

    def __repr__(self) -> str:
        return f"<RemoteCustodian {self._base.location}>"

    @property
    def url(self) -> str:
        """The service's base URL, normalised (no credentials, query or trailing slash)."""
        return self._base.location

    @property
    def location(self) -> str:
        """The service's URL and the token's tenant and user (asked of the service once), as
        ``https://host/base#tenant/user``: the key of the device's revision pins, so two users
        of one device keep apart what each has seen, whatever their wallet ids."""
        if self._location is None:
            data = self._call("GET", "/v1/me", "say whose the token is", retried=True)
            tenant = data.get("tenant") if isinstance(data, dict) else None
            user = data.get("user") if isinstance(data, dict) else None
            if not isinstance(tenant, str) or not tenant:
                raise MalformedBackup(f"{self._service} did not say whose the token is")
            if not isinstance(user, str) or not user:
                raise AccessDenied(
                    f"{self._service} does not know this token as a user's (device) token; a "
                    "device needs the user token the application's backend minted"
                )
            self._location = f"{self.url}#{quote(tenant, safe='')}/{quote(user, safe='')}"
        return self._location

    # --- the protocol ------------------------------------------------------------------------

    @contextmanager
    def lock(self, wallet_id: str) -> Iterator[None]:
        """Nothing to hold: every write names the revision it builds on (compare-and-swap)."""
        yield

    def view(self, wallet_id: str) -> WalletView | None:
        try:
            data = self._call("GET", _wallet(wallet_id), "read the wallet", retried=True)
        except BackupNotFound:
            return None
        view = from_json(WalletView, data)
        if view.wallet_id != wallet_id:
            raise MalformedBackup(f"{self._service} answered about another wallet than asked")
        return view

    def propose(self, proposal: Proposal) -> RevisionView:
        data = self._call(
            "POST",
            _wallet(proposal.wallet_id, "proposals"),
            "hold the new backup",
            body=to_json(proposal),
            retried=True,  # a repeated proposal is recognised, not applied twice
        )
        held = from_json(RevisionView, data)
        if (held.revision, held.client_envelope_id) != (
            proposal.revision,
            proposal.client_envelope_id,
        ):
            raise MalformedBackup(f"{self._service} answered with another revision than proposed")
        return held

    def promote(self, wallet_id: str, revision: int) -> None:
        # Not repeated: whether a promotion whose answer was lost landed, the next operation
        # learns from the wallet's view.
        self._call("POST", _revision(wallet_id, revision, "promote"), "make the backup current")

    def abandon(self, wallet_id: str, revision: int, detail: str) -> None:
        # The cause is a core error's message, which can be longer than the wire takes.
        if len(detail) > MAX_DETAIL:
            detail = detail[: MAX_DETAIL - 1] + "…"
        self._call(
            "POST",
            _revision(wallet_id, revision, "abandon"),
            "mark the backup failed",
            body={"detail": detail},
        )

    def release(self, wallet_id: str, revision: int) -> Released:
        """Refused: a service releases its share to the tenant's custodian credential (its MPC
        node) or through eject, never to a device token; :meth:`check` is the device's."""
        raise AccessDenied(
            f"{self._service} does not release the custodian share to a device; it goes to the "
            "tenant's MPC node, or to the device through eject"
        )

    def check(self, wallet_id: str, revision: int) -> Checked:
        data = self._call(
            "POST",
            _revision(wallet_id, revision, "check"),
            "check the custodian share",
            retried=True,  # it changes nothing
        )
        checked = from_json(Checked, data)
        if checked.revision != revision:
            raise MalformedBackup(f"{self._service} checked another revision than the one asked")
        return checked

    def record_verified(self, wallet_id: str, revision: int, stanza_id: str) -> None:
        self._call(
            "POST",
            _revision(wallet_id, revision, "verified"),
            "record the verification",
            body={"stanza_id": stanza_id},
            retried=True,  # it sets a time: twice is once
        )

    def audit(self, event: dict[str, Any]) -> None:
        """Send one audit event; a failure is logged, as the embedded custodian's is, and never
        fails the operation the event is about. Not repeated: an event is kept once."""
        try:
            self._call("POST", "/v1/audit", "record the audit event", body={"event": event})
        except WalletBackupError as exc:
            log.warning("could not send the audit record: %s", exc)

    def close(self) -> None:
        with self._guard:
            connections, self._open = self._open, set()
        for connection in connections:
            connection.close()

    # --- beyond the protocol -----------------------------------------------------------------

    def prepare_eject(self, wallet_id: str) -> EjectRequest:
        data = self._call("POST", _wallet(wallet_id, "eject", "prepare"), "prepare the eject")
        return from_json(EjectRequest, data)

    def eject(self, wallet_id: str) -> Released:
        # Not repeated: the service audits and announces each eject.
        released = from_json(Released, self._call("POST", _wallet(wallet_id, "eject"), "eject"))
        if released.wallet_id != wallet_id:
            raise MalformedBackup(f"{self._service} ejected another wallet than the one asked")
        return released

    def cancel_eject(self, wallet_id: str) -> None:
        self._call("DELETE", _wallet(wallet_id, "eject"), "cancel the eject", retried=True)

    def wallets(self) -> list[str]:
        """The ids of the wallets the service holds for this user."""
        data = self._call("GET", "/v1/wallets", "list the wallets", retried=True)
        ids = data.get("wallets") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise MalformedBackup(f"{self._service} answered a malformed list of wallets")
        return list(ids)

    # --- HTTP ----------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        action: str,
        *,
        body: Any = None,
        retried: bool = False,
    ) -> Any:
        """One request: its JSON answer (``None`` for an empty one), or the error it stands for.

        ``retried``: the request is safe to repeat, and is, under :attr:`retry`.
        """
        payload = b"{}" if body is None and method == "POST" else None
        if body is not None:
            payload = json.dumps(body, separators=(",", ":")).encode()
        if retried:
            return call_with_retries(
                self.retry,
                self._service,
                action,
                lambda _: self._exchange(method, path, payload),
            )
        try:
            return self._exchange(method, path, payload)
        except Transient as exc:
            raise StorageError(f"{self._service} could not {action}: {exc.detail}") from None

    def _exchange(self, method: str, path: str, payload: bytes | None) -> Any:
        """Send the request on this thread's connection and read the answer, within limits."""
        connection = self._connection()
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "User-Agent": f"walletbackup/{__version__}",
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, self._base.path + path, body=payload, headers=headers)
            response = connection.getresponse()
            ok = 200 <= response.status < 300
            limit = MAX_ANSWER if ok else MAX_ERROR_ANSWER
            # The declared length first: an oversized answer is refused before it is read.
            declared = response.length
            if declared is not None and declared > limit:
                data = None
            else:
                data = response.read(limit + 1)
                if declared is not None and len(data) < declared:
                    # The service went away mid-answer (a killed replica): read() returns the
                    # bytes that came, without an error; the answer is lost, not malformed.
                    raise http.client.IncompleteRead(data, declared - len(data))
        except ssl.SSLCertVerificationError as exc:
            self._drop(connection)
            # Not retried: the same certificate would be presented again.
            raise StorageError(
                f"{self._service} presented a certificate that could not be verified "
                f"({exc.verify_message})"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            self._drop(connection)
            raise Transient(_describe(exc)) from None
        if not response.isclosed() or response.will_close:
            # Unread bytes (an answer over the limit), or the service is closing: not reusable.
            self._drop(connection)
        if data is None or len(data) > limit:
            raise MalformedBackup(
                f"{self._service} answered HTTP {response.status} with more than {limit} bytes"
            )
        if ok:
            return _json(data, self._service) if data else None
        raise self._refusal(response.status, response.reason, data, response)

    def _refusal(
        self, status: int, reason: str, data: bytes, response: http.client.HTTPResponse
    ) -> Exception:
        """The error an error answer stands for (a :class:`Transient` one when it is worth
        another try of a request that is safe to repeat)."""
        code, message = _error_body(data)
        message = _clean(message.replace(self._token, "[token]"))
        kind = ERRORS.get((code, status)) if code is not None else None
        if status in RETRIED_STATUSES:
            detail = f"it answered HTTP {status}" + (f" ({message})" if message else "")
            return Transient(detail, retry_after_seconds(response.getheader("Retry-After")))
        if kind is None:
            return StorageError(
                f"{self._service} answered HTTP {status} {_clean(reason)}, which is not an "
                "answer of the walletbackup service"
            )
        if code == "rate_limited":
            wait = retry_after_seconds(response.getheader("Retry-After"))
            if wait is not None:
                message += f" (try again in {math.ceil(wait)} s)"
        return kind(f"{self._service} refused ({code}): {message}")

    def _connection(self) -> http.client.HTTPConnection:
        """This thread's keep-alive connection; a new one when the service closed it."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        with self._guard:
            known = connection in self._open
        if connection is not None and (not known or _closed_by_peer(connection)):
            self._drop(connection)
            connection = None
        if connection is None:
            base = self._base
            if self._ssl is not None:
                connection = http.client.HTTPSConnection(
                    base.host, base.port, timeout=self.timeout, context=self._ssl
                )
            else:
                connection = http.client.HTTPConnection(base.host, base.port, timeout=self.timeout)
            with self._guard:
                self._open.add(connection)
            self._local.connection = connection
        return connection

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        with self._guard:
            self._open.discard(connection)
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None


def _parse(url: str, *, allow_insecure_http: bool) -> _Base:
    """The base URL's parts. Errors never quote the URL: it might carry a password."""
    if not isinstance(url, str):
        raise PolicyViolation("the custodian service URL must be a string")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise PolicyViolation("the custodian service URL is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise PolicyViolation(
            "a custodian service URL starts with https:// (or http:// on a loopback address)"
        )
    if parts.username is not None or parts.password is not None:
        raise PolicyViolation(
            "the custodian service URL must not carry a user name or password; pass the user "
            "token as token="
        )
    if parts.query or parts.fragment:
        raise PolicyViolation("the custodian service URL takes no query (?…) or fragment (#…)")
    host = parts.hostname
    if not host:
        raise PolicyViolation("the custodian service URL names no host")
    if not _PATH.fullmatch(parts.path):
        raise PolicyViolation("the custodian service URL's path has characters not allowed there")
    if scheme == "http" and not allow_insecure_http and not _loopback(host):
        raise PolicyViolation(
            "the custodian service URL must be https:// (plain http:// would send the token in "
            "clear text); http:// is accepted on a loopback address, or with "
            "RemoteCustodian(..., allow_insecure_http=True)"
        )
    return _Base(scheme, host, port or _DEFAULT_PORTS[scheme], parts.path.rstrip("/"))


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_loopback
    except ValueError:
        return False


def _wallet(wallet_id: str, *rest: str) -> str:
    return "/".join(("/v1/wallets", quote(wallet_id, safe=""), *rest))


def _revision(wallet_id: str, revision: int, action: str) -> str:
    return _wallet(wallet_id, "revisions", str(int(revision)), action)


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle keep-alive connection was closed by the service (it is readable: the end
    of the stream, or bytes nobody asked for). A write sent on it would fail, or worse, be lost
    without telling whether it landed."""
    sock = connection.sock
    if sock is None:
        return False  # not connected yet: the request connects
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _json(data: bytes, service: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise MalformedBackup(f"{service} answered something that is not JSON") from None


def _error_body(data: bytes) -> tuple[str | None, str]:
    """The ``{"error": CODE, "message": TEXT}`` of an error answer; ``(None, "")`` if not one."""
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    code, message = body.get("error"), body.get("message", "")
    if not isinstance(code, str) or not isinstance(message, str):
        return None, ""
    return code, message


def _clean(text: str) -> str:
    """A service's text, fit for one line of an error message: printable, and not too long."""
    line = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


def _describe(exc: BaseException) -> str:
    """A connection failure in a few words (the message of an OS or HTTP error holds no secret)."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["DEFAULT_RETRY", "ERRORS", "MAX_ANSWER", "RETRIED_STATUSES", "RemoteCustodian"]
