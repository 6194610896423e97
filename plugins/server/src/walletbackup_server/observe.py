"""Every request counted, timed and logged: one ASGI middleware around the whole app.

The access log is one JSON object per request on the ``walletbackup.server.access`` logger:
method, route template, status, duration and the client address. Never a header (so never the
Authorization credential), never a body, never the path itself (it names wallets and users).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import Metrics

access_log = logging.getLogger("walletbackup.server.access")
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")
#: Where no route matched: one label for every such path.
UNMATCHED = "unmatched"
#: Method labels; any other method a client sends counts as "other" (labels stay few).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def template(scope: Scope) -> str:
    """The matched route's path template (``{w:path}`` written ``{w}``), or :data:`UNMATCHED`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return _label(path) if isinstance(path, str) else UNMATCHED


@functools.cache
def _label(path: str) -> str:
    # Route paths are the app's own few strings: each is rewritten once, not per request.
    return _CONVERTOR.sub(r"{\1}", path)


class Observe:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before it answers

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - started
            route = template(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.observe(route, method, status, seconds)
            # Off by default: then no line is built (serialising it is most of its cost).
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                line = {
                    "method": method,
                    "route": route,
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                    "client": client[0] if client else None,
                }
                access_log.info(json.dumps(line, sort_keys=True))


__all__ = ["UNMATCHED", "Observe", "template"]
