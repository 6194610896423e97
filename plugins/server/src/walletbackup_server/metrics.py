"""Prometheus metrics: requests by route template and status, latency by route template.

Labels are route *templates* (``/v1/wallets/{w}``), methods and statuses only: never a wallet
id, user id, tenant or token. Each app has its own registry, so several apps in one process
(tests, a benchmark) keep their counts apart.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "walletbackup_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "walletbackup_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "walletbackup_rate_limited",
            "Requests refused over a rate limit, by route template and key kind (user, source).",
            ["route", "key"],
            registry=self.registry,
        )

        self.audit_lost = Counter(
            "walletbackup_audit_records_lost",
            "Audit records the service could not write (the store or the KMS failed); each is "
            "also a warning in the log. Any increase is a gap in the evidence: alert on it.",
            registry=self.registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


__all__ = ["Metrics"]
