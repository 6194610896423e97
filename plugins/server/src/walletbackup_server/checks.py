"""The messages a device sends, checked against the protocol's bounds before the core sees them.

The core trusts its own device code to build proposals; a service gets them from anyone with a
token, so every field is held to what a real device can send (the envelope format's limits),
and anything else is ``malformed`` rather than an error deep inside the custodian.
"""

from __future__ import annotations

import re
from typing import Any

from walletbackup import audit, envelope
from walletbackup.envelope.format import BACKUP_SET_ID_LEN, ENVELOPE_ID_LEN, STANZA_ID_LEN
from walletbackup.protocol import Proposal

from .errors import malformed
from .wire import hex_id

MAX_NUMBER = 2**53 - 1
MAX_TEXT = 256
MAX_AUDIT_FIELDS = 32
_METHOD = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_FIELD = re.compile(r"[a-z][a-z0-9_]{0,63}")


def proposal(p: Proposal) -> Proposal:
    """``p`` if every field is within the protocol's bounds."""
    _number(p.base_revision, 0, "base_revision")
    _number(p.revision, 1, "revision")
    _number(p.key_epoch, 1, "key_epoch")
    hex_id(p.backup_set_id, BACKUP_SET_ID_LEN, "backup_set_id")
    hex_id(p.client_envelope_id, ENVELOPE_ID_LEN, "client_envelope_id")
    if not 1 <= len(p.share_commitment) <= envelope.MAX_COMMITMENT:
        raise malformed(f"share_commitment is 1 to {envelope.MAX_COMMITMENT} bytes")
    if p.client_envelope is not None and not 1 <= len(p.client_envelope) <= envelope.MAX_ENVELOPE:
        raise malformed(f"client_envelope is 1 to {envelope.MAX_ENVELOPE} bytes")
    if p.custodian_share is not None and not 1 <= len(p.custodian_share) <= envelope.MAX_SHARE:
        raise malformed(f"custodian_share is 1 to {envelope.MAX_SHARE} bytes")
    if not 1 <= len(p.stanzas) <= envelope.MAX_STANZAS:
        raise malformed(f"a proposal names 1 to {envelope.MAX_STANZAS} stanzas")
    for stanza in p.stanzas:
        hex_id(stanza.id, STANZA_ID_LEN, "a stanza id")
        if not _METHOD.fullmatch(stanza.method):
            raise malformed("a stanza's method is a method name (a-z, 0-9, _ and -)")
    if not set(p.new_stanzas) <= {s.id for s in p.stanzas}:
        raise malformed("new_stanzas must be ids of the proposal's stanzas")
    if len(p.reason) > MAX_TEXT:
        raise malformed(f"reason is at most {MAX_TEXT} characters")
    return p


def event(data: object) -> dict[str, Any]:
    """An audit event from a device: a known type and a few public fields of plain values."""
    kind = data.get("type") if isinstance(data, dict) else None
    if not isinstance(data, dict) or kind not in audit.EVENT_TYPES:
        raise malformed("an audit event is an object whose type is one of the audit types")
    if kind in audit.SERVICE_EVENTS:
        raise malformed(f"the service records {kind} events itself")
    if len(data) > MAX_AUDIT_FIELDS:
        raise malformed(f"an audit event has at most {MAX_AUDIT_FIELDS} fields")
    for name, value in data.items():
        if not _FIELD.fullmatch(name):
            raise malformed("an audit field name is lowercase letters, digits and _")
        if isinstance(value, str):
            if len(value) > MAX_TEXT:
                raise malformed(f"an audit field is at most {MAX_TEXT} characters")
        elif type(value) is int:
            _number(value, -MAX_NUMBER, name)
        elif not isinstance(value, bool):
            raise malformed("an audit field is a string, an integer or a boolean")
    return dict(data)


def detail(text: str) -> str:
    if len(text) > MAX_TEXT:
        raise malformed(f"detail is at most {MAX_TEXT} characters")
    return text


def _number(value: int, low: int, name: str) -> None:
    if not low <= value <= MAX_NUMBER:
        raise malformed(f"{name} is an integer from {low} to 2**53 - 1")


__all__ = ["detail", "event", "proposal"]
