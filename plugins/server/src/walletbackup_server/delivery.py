"""Sending signed requests to a tenant's webhook: timeouts, bounded answers, retries with backoff.

Connection failures, timeouts and 5xx answers are retried under the core's one retry policy
(:mod:`walletbackup.retry`); any other answer that is not 2xx is final (the backend said no).
Each attempt is a new request with its own ``event_id`` and timestamp, so a receiver that
refuses replays never refuses a retry. Redirects are not followed: a signed body goes only
to the URL the operator set. What the backend answers is read up to a bound.
"""

from __future__ import annotations

import http.client
import json
import logging
import secrets
import urllib.error
import urllib.request
from typing import Any

from walletbackup.errors import StorageError, WalletBackupError
from walletbackup.retry import RetriesExhausted, RetryPolicy, Transient, call_with_retries

from .tenant_webhooks import Webhook
from .webhooks import signed_headers

log = logging.getLogger("walletbackup.server.webhooks")
#: The largest answer read from a backend (a custodian envelope in base64url fits easily).
MAX_ANSWER = 256 * 1024


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


class Delivery:
    """Posts JSON to webhooks; ``timeout`` seconds per connect or read, ``policy`` for retries."""

    def __init__(self, timeout: float, policy: RetryPolicy) -> None:
        self.timeout = timeout
        self.policy = policy
        self._opener = urllib.request.build_opener(_NoRedirects())

    def post(self, webhook: Webhook, path: str, payload: dict[str, Any], action: str) -> Any:
        """POST ``payload`` (plus a fresh ``event_id``) to ``webhook.url + path``; its JSON answer.

        ``action`` says what the request does ("store the custodian share"), for messages.
        Raises :class:`StorageError` when the backend refused it or answered something that is
        not JSON (the message says what it did: "it refused the request: HTTP 403"), or
        :class:`RetriesExhausted` when it kept failing until the retries ran out.
        """
        return call_with_retries(
            self.policy,
            "the application's backend",
            action,
            lambda _: self._attempt(webhook, path, payload),
        )

    def _attempt(self, webhook: Webhook, path: str, payload: dict[str, Any]) -> Any:
        body = json.dumps(
            {"event_id": secrets.token_hex(16), **payload}, sort_keys=True, separators=(",", ":")
        ).encode()
        # The URL is http(s) only: tenant_webhooks.check_url refused anything else.
        request = urllib.request.Request(  # noqa: S310
            webhook.url + path,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "walletbackup-server",
                **signed_headers(webhook.secret, body),
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                answer: bytes = response.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code >= 500:
                raise Transient(f"it answered HTTP {exc.code}") from None
            raise StorageError(f"it refused the request: HTTP {exc.code}") from None
        except TimeoutError:
            raise Transient(f"no answer within {self.timeout:g} s") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise Transient(f"no answer within {self.timeout:g} s") from None
            raise Transient(f"it cannot be reached ({type(reason).__name__})") from None
        except (OSError, http.client.HTTPException) as exc:
            raise Transient(f"the connection failed ({type(exc).__name__})") from None
        if len(answer) > MAX_ANSWER:
            raise StorageError(f"it answered more than {MAX_ANSWER} bytes")
        if not answer.strip():
            return None
        try:
            return json.loads(answer)
        except (ValueError, RecursionError):
            raise StorageError("its answer is not JSON") from None


def why(exc: WalletBackupError) -> str:
    """What went wrong with a webhook request, for a message: "it answered HTTP 500, 3 times"."""
    if isinstance(exc, RetriesExhausted):
        return f"{exc.detail}; {exc.attempts} attempt{'s' if exc.attempts != 1 else ''}"
    return str(exc)


__all__ = ["MAX_ANSWER", "Delivery", "why"]
