"""The API fuzzed from its own OpenAPI document: no 500, no status or body it does not document.

schemathesis drives the app in-process (ASGI) with valid credentials for each route, so the
requests get past authentication and reach the parsing and the core behind it. Each operation
is its own test, its cases drawn by hypothesis from schemathesis' strategy for it (both valid
and invalid requests).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from service_http import bearer

from walletbackup_server.openapi import OPERATIONS

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 40


def _credential(world, path: str) -> str | None:
    if not path.startswith("/v1/"):
        return None
    if path == "/v1/tokens":
        return world.creds["backend"]
    if path.endswith("/custodian-share"):
        return world.creds["custodian"]
    return world.creds["alice"]


#: Every operation with valid requests; those that take input with invalid ones too.
CASES = [
    (op.operation_id, mode)
    for op in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or op.request is not None or "{" in op.path
]


@pytest.mark.slow
@pytest.mark.parametrize(("operation_id", "mode"), CASES)
def test_fuzz(world, operation_id, mode):
    api = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    operation = api.find_operation_by_id(operation_id)
    headers = bearer(_credential(world, operation.path))

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
