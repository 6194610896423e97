"""Google Drive v3 over google-auth's ``AuthorizedSession``: the calls the method needs.

Imported only when the method talks to Drive (google-auth and requests are not loaded before).
Every call is retried on passing failures (429, 5xx, Drive's 403 rate limits, dropped or hung
connections) under a :class:`RetryPolicy`; everything else becomes a walletbackup error that
says what happened and what to do. No token, key or response body is ever logged.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import AuthorizedSession

from walletbackup.errors import MethodUnavailable, StorageError, WalletBackupError
from walletbackup.retry import RetryPolicy, Transient, call_with_retries, retry_after_seconds

from .endpoints import DEFAULT_API_ROOT, SCOPE, check_url
from .keyfile import KeyFileSpec
from .multipart import encode_related

log = logging.getLogger("walletbackup.gdrive")

T = TypeVar("T")

APPDATA = "appDataFolder"
#: Bytes read at most from a JSON response; a key file is read up to its size plus one byte.
_MAX_JSON = 1 << 20
_PAGE_SIZE = 100
_MAX_PAGES = 100
_LIST_FIELDS = "nextPageToken,files(id,name,appProperties,createdTime)"

_RATE_LIMITED = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})


@dataclass(frozen=True)
class DriveFile:
    """A file in the appDataFolder, as files.list describes it."""

    id: str
    name: str
    app_properties: Mapping[str, str]
    created_time: str


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


class DriveClient:
    """The Drive v3 calls on the user's appDataFolder, for one credentials object."""

    def __init__(
        self,
        credentials: Any,
        *,
        api_root: str = DEFAULT_API_ROOT,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._root = check_url(api_root, "api_root").rstrip("/")
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        # One refresh on 401: a token that Google rejects right after a refresh is not coming
        # back by refreshing again. (google-auth's transport has no type hints: Any.)
        self._session: Any = AuthorizedSession(  # type: ignore[no-untyped-call]
            credentials, max_refresh_attempts=1, refresh_timeout=timeout
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> DriveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the calls ---------------------------------------------------------------------

    def create(self, spec: KeyFileSpec, data: bytes) -> str:
        """Upload a new file (never overwriting one) and return its id."""
        metadata = {
            "name": spec.name,
            "parents": [APPDATA],
            "appProperties": spec.app_properties,
            "description": spec.description,
            "mimeType": "application/octet-stream",
        }
        body, content_type = encode_related(metadata, data)
        query = f"name = {_quote(spec.name)}"

        def attempt(number: int) -> str:
            if number > 1:
                # A try that failed without an answer may still have created the file: adopt it
                # rather than leave a twin behind. The name is unique to this enrollment.
                found = self._list_page(query, None)[0]
                if found:
                    for twin in found[1:]:
                        self._send(
                            "delete a duplicate key file",
                            "DELETE",
                            self._file_url(twin.id),
                            allow_404=True,
                        )
                    return found[0].id
            reply = self._send(
                "upload the key file",
                "POST",
                f"{self._root}/upload/drive/v3/files",
                params={"uploadType": "multipart", "fields": "id"},
                data=body,
                headers={"Content-Type": content_type},
            )
            file_id = _json(reply).get("id")
            if not isinstance(file_id, str) or not file_id:
                raise StorageError("Google Drive accepted the upload but sent no file id back")
            return file_id

        return self._retrying("upload the key file", attempt)

    def download(self, file_id: str, limit: int) -> bytes | None:
        """The file's content (``limit`` bytes at most), or None if there is no such file."""

        def attempt(_: int) -> bytes | None:
            reply = self._send(
                "download the key file",
                "GET",
                self._file_url(file_id),
                params={"alt": "media"},
                allow_404=True,
                limit=limit,
            )
            return None if reply.status == 404 else reply.body

        return self._retrying("download the key file", attempt)

    def exists(self, file_id: str) -> bool:
        """Whether the file is there: a metadata request for its id alone, never its content."""

        def attempt(_: int) -> bool:
            reply = self._send(
                "look up the key file",
                "GET",
                self._file_url(file_id),
                params={"fields": "id"},
                allow_404=True,
            )
            return reply.status != 404

        return self._retrying("look up the key file", attempt)

    def delete(self, file_id: str) -> bool:
        """Delete a file; False if it was already gone."""

        def attempt(number: int) -> bool:
            reply = self._send(
                "delete the key file", "DELETE", self._file_url(file_id), allow_404=True
            )
            # A 404 on a retry means an earlier try that got no answer did delete it.
            return reply.status != 404 or number > 1

        return self._retrying("delete the key file", attempt)

    def list_files(self, query: str) -> list[DriveFile]:
        """Every appDataFolder file matching a files.list query, following pages."""
        files: list[DriveFile] = []
        token: str | None = None
        for _ in range(_MAX_PAGES):
            page, token = self._retrying(
                "list the key files", functools.partial(self._list_attempt, query, token)
            )
            files += page
            if token is None:
                return files
        raise StorageError(f"Google Drive listed more than {_MAX_PAGES * _PAGE_SIZE} files")

    # --- plumbing ----------------------------------------------------------------------

    def _file_url(self, file_id: str) -> str:
        return f"{self._root}/drive/v3/files/{quote(file_id, safe='')}"

    def _list_attempt(
        self, query: str, token: str | None, _number: int
    ) -> tuple[list[DriveFile], str | None]:
        return self._list_page(query, token)

    def _list_page(self, query: str, token: str | None) -> tuple[list[DriveFile], str | None]:
        params = {
            "spaces": APPDATA,
            "q": query,
            "fields": _LIST_FIELDS,
            "pageSize": str(_PAGE_SIZE),
        }
        if token is not None:
            params["pageToken"] = token
        document = _json(
            self._send("list the key files", "GET", f"{self._root}/drive/v3/files", params=params)
        )
        entries, next_token = document.get("files", []), document.get("nextPageToken")
        if not isinstance(entries, list) or not isinstance(next_token, str | None):
            raise _unexpected()
        return [_drive_file(entry) for entry in entries], next_token or None

    def _retrying(self, what: str, attempt: Callable[[int], T]) -> T:
        return call_with_retries(self._retry, "Google Drive", what, attempt)

    def _send(
        self,
        what: str,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        allow_404: bool = False,
        limit: int = _MAX_JSON,
    ) -> _Reply:
        """One HTTP request: a reply, or :class:`Transient`, or a walletbackup error."""
        try:
            with self._session.request(
                method,
                url,
                params=params,
                data=data,
                headers=dict(headers or {}),
                timeout=self._timeout,
                stream=True,
            ) as response:
                # Error bodies are read in full (bounded): they say what went wrong.
                reply = _Reply(
                    response.status_code,
                    response.headers,
                    _read(response, limit if response.ok else _MAX_JSON),
                )
        except requests.Timeout:
            raise Transient(f"no answer within {self._timeout:g} s") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            raise Transient("the connection failed or dropped") from None
        except auth_exceptions.TransportError:
            raise Transient("Google's sign-in service could not be reached") from None
        except auth_exceptions.RefreshError as exc:
            if exc.retryable:
                raise Transient("Google's sign-in service failed") from None
            raise MethodUnavailable(
                f"Google no longer accepts this sign-in ({_refresh_reason(exc)}): sign in again "
                "with `walletbackup gdrive login`, or pass fresh credentials"
            ) from None
        if reply.status < 300 or (allow_404 and reply.status == 404):
            return reply
        raise _problem(what, reply)


def _read(response: requests.Response, limit: int) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _problem(what: str, reply: _Reply) -> Exception:
    """The error for an HTTP error reply: :class:`Transient` when worth retrying."""
    status = reply.status
    reasons, message = _google_error(reply.body)
    label = f"HTTP {status}" + (f" {sorted(reasons)[0]}" if reasons else "")
    if status == 429 or status >= 500 or (status == 403 and reasons & _RATE_LIMITED):
        return Transient(label, retry_after_seconds(reply.headers.get("Retry-After")))
    if status == 401:
        return MethodUnavailable(
            "Google Drive still rejects the sign-in after refreshing it (HTTP 401): sign in "
            "again with `walletbackup gdrive login`, or pass fresh credentials"
        )
    if status == 403:
        if "insufficient_scope" in reply.headers.get("WWW-Authenticate", ""):
            reasons |= {"ACCESS_TOKEN_SCOPE_INSUFFICIENT"}
        for known, explain in _FORBIDDEN:
            if reasons & known:
                return explain(label)
    detail = f": {message}" if message else ""
    return StorageError(f"Google Drive refused to {what} ({label}){detail}")


#: 403 reasons that are not worth retrying, and what each means for the user.
_FORBIDDEN: tuple[tuple[frozenset[str], Callable[[str], WalletBackupError]], ...] = (
    (
        frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}),
        lambda _: MethodUnavailable(
            f"the Google sign-in does not allow this app's Drive folder (scope {SCOPE} "
            "missing): sign in again and allow access to the app's own Google Drive data"
        ),
    ),
    (
        frozenset({"storageQuotaExceeded"}),
        lambda _: StorageError(
            "the Google account's storage is full (storageQuotaExceeded): free some space or add "
            "storage, then try again"
        ),
    ),
    (
        frozenset({"dailyLimitExceeded", "quotaExceeded"}),
        lambda label: StorageError(
            f"the OAuth client's Google Cloud project has used up its Drive API quota ({label}): "
            "try again later, or raise the quota in the Cloud console"
        ),
    ),
    (
        frozenset({"accessNotConfigured", "SERVICE_DISABLED"}),
        lambda _: MethodUnavailable(
            "the Google Drive API is not enabled in the OAuth client's Cloud project: enable it in "
            "the Google Cloud console (APIs & Services, Library)"
        ),
    ),
)


def _google_error(body: bytes) -> tuple[frozenset[str], str]:
    """The reasons and message of a Google API error body (empty when it is not one)."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return frozenset(), ""
    if not isinstance(error, dict):
        return frozenset(), ""
    reasons = {
        item.get("reason")
        for key in ("errors", "details")
        for item in error.get(key) or []
        if isinstance(item, dict)
    }
    message = error.get("message")
    text = (
        "".join(ch for ch in message[:200] if ch.isprintable()) if isinstance(message, str) else ""
    )
    return frozenset(r for r in reasons if isinstance(r, str)), text


def _refresh_reason(exc: auth_exceptions.RefreshError) -> str:
    # google-auth puts the token endpoint's error code first ("invalid_grant: Token has been
    # expired or revoked."); the rest of its arguments is the raw response, not shown.
    first = str(exc.args[0]) if exc.args else ""
    code = first.split(":", 1)[0].strip()
    return code if code.replace("_", "").isalnum() and len(code) <= 40 else "refresh failed"


def _json(reply: _Reply) -> dict[str, Any]:
    try:
        document = json.loads(reply.body)
    except ValueError:
        raise _unexpected() from None
    if not isinstance(document, dict):
        raise _unexpected()
    return document


def _drive_file(entry: Any) -> DriveFile:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise _unexpected()
    properties = entry.get("appProperties") or {}
    if not isinstance(properties, dict):
        raise _unexpected()
    return DriveFile(
        entry["id"],
        str(entry.get("name", "")),
        {str(k): str(v) for k, v in properties.items()},
        str(entry.get("createdTime", "")),
    )


def _unexpected() -> WalletBackupError:
    return StorageError(
        "Google Drive sent a response walletbackup does not understand; is "
        "api_root a Google APIs endpoint?"
    )


def _quote(value: str) -> str:
    """A string literal for a files.list query."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def app_property_query(key: str, value: str) -> str:
    return f"appProperties has {{ key={_quote(key)} and value={_quote(value)} }}"


__all__ = ["APPDATA", "DriveClient", "DriveFile", "app_property_query"]
