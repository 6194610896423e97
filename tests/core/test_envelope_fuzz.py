"""Fuzzing parse + unwrap + open: only MalformedBackup or UnlockFailed, never anything else.

Three sources of input: arbitrary bytes (also behind a valid prefix), mutations of valid
envelopes, and random JSON headers inside a valid frame whose header MAC, payload and (v2) tags
are correct for the real keys (so only the header checks and the stanza AAD stand in the way).
Samples of both versions; version 2 is what seal writes.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import vector_support as gen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vector_cases import Built, built

from walletbackup import envelope
from walletbackup.canonical import b64encode
from walletbackup.errors import MalformedBackup, UnlockFailed

_NAMES = ("client_one_stanza", "client_three_stanzas", "custodian_kms")
SAMPLES = {f"v{v}-{name}": built(name, v) for v in (1, 2) for name in _NAMES}
KMS_KEYS = {sample.kms_key for sample in SAMPLES.values() if sample.kms_key is not None}
KMS = [gen.FixedKeyKms(key, gen.Replay(b"")) for key in sorted(KMS_KEYS)]
SECRETS = [s for sample in SAMPLES.values() for s in sample.secrets]
FUZZ = settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def _try_open(data: bytes) -> bytes | None:
    """The share if any stanza opens with any known secret; None if it fails the allowed way."""
    opened = _try_open_stanza(data)
    return None if opened is None else opened[0]


def _try_open_stanza(data: bytes) -> tuple[bytes, envelope.Envelope, envelope.Stanza] | None:
    try:
        env = envelope.parse(data)
    except MalformedBackup:
        return None
    for stanza in env.stanzas:
        for opener in KMS if stanza.is_kms else SECRETS:
            try:
                if isinstance(opener, bytes):
                    key = envelope.unlock(env, stanza, opener)
                else:
                    key = envelope.unwrap_key_kms(env, stanza, opener)
                return envelope.open_with_key(env, key).share, env, stanza
            except UnlockFailed as exc:
                if str(exc) != UnlockFailed.MESSAGE:
                    raise AssertionError(f"UnlockFailed with another message: {exc}") from exc
    return None


def test_try_open_opens_the_samples() -> None:
    # The harness can succeed, so "never opens" below is a real check.
    for sample in SAMPLES.values():
        assert _try_open(sample.data) == sample.share


@FUZZ
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    assert _try_open(data) is None


@FUZZ
@given(
    st.sampled_from([1, 2]),
    st.binary(max_size=600),
    st.integers(0, 700) | st.integers(0, 2**32 - 1),
)
def test_arbitrary_bytes_behind_valid_prefix(version: int, body: bytes, header_len: int) -> None:
    data = envelope.MAGIC + bytes([version, 1]) + header_len.to_bytes(4, "big") + body
    assert _try_open(data) is None


_MUTATION = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
    st.integers(0, 10**6),
    st.integers(0, 255),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, where, value in mutations:
        at = where % (len(out) + 1)
        if kind == "insert":
            out.insert(at, value)
        elif kind == "truncate":
            del out[at:]
        elif at < len(out):
            if kind == "flip":
                out[at] ^= 1 << (value % 8)
            elif kind == "set":
                out[at] = value
            else:
                del out[at]
    return bytes(out)


@FUZZ
@given(st.sampled_from(sorted(SAMPLES)), st.lists(_MUTATION, min_size=1, max_size=4))
def test_mutated_envelopes(name: str, mutations: list[tuple[str, int, int]]) -> None:
    sample = SAMPLES[name]
    data = _mutate(sample.data, mutations)
    opened = _try_open(data)
    if data != sample.data:
        assert opened is None


_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
# Values the canonical-JSON layer accepts, biased towards what the header schema expects, so
# the schema checks and the stanza AAD are reached, not only the JSON layer.
_HEADER_LEAF = (
    st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(max_size=12)
    | st.binary(max_size=50).map(b64encode)
    | st.sampled_from(["client", "custodian", "kms", "password", "", "wallet-1"])
)
_CANONICAL_JSON = st.recursive(
    _HEADER_LEAF,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)
_JSON = _CANONICAL_JSON | _ANY_JSON


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            paths += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            paths += _paths(value, (*prefix, index))
    return paths


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    obj[path[0]] = _replace(obj[path[0]], path[1:], value)
    return obj


def _encode(canonical: bool) -> Any:
    def encode(obj: Any) -> bytes:
        if canonical:
            text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            return text.encode("utf-8", "surrogatepass")
        return json.dumps(obj).encode()

    return encode


def _frame(sample: Built, header: Any, canonical: bool, retag: bool = True) -> bytes:
    """``header`` in a frame that is valid for the sample's keys (v2: tags re-made)."""
    if sample.version == 1:
        return sample.reframe(header, encode=_encode(canonical))
    return sample.reframe(header, encode=_encode(canonical), retag=retag)


@FUZZ
@given(st.sampled_from(sorted(SAMPLES)), _JSON, st.booleans())
def test_random_json_header_in_valid_frame(name: str, header: Any, canonical: bool) -> None:
    assert _try_open(_frame(SAMPLES[name], header, canonical)) is None


@FUZZ
@given(st.sampled_from(sorted(SAMPLES)), st.data(), _JSON, st.integers(0, 4).map(bool))
def test_header_with_one_value_replaced(
    name: str, data: st.DataObject, value: Any, canonical: bool
) -> None:
    sample = SAMPLES[name]
    header = gen.header_of(sample.data)
    path = data.draw(st.sampled_from(_paths(header)))
    edited = _replace(header, path, value)
    # A replaced tag stays as the fuzzer made it; any other edit gets the tags re-made.
    opened = _try_open_stanza(_frame(sample, edited, canonical, retag=path[-1:] != ("tag",)))
    if opened is not None:
        # The frame is re-made with the real keys, so the header MAC and (re-made) tags hold;
        # what must still hold is the AAD binding: only an unchanged stanza (tags aside) in an
        # unchanged context opens.
        share, env, stanza = opened
        original = envelope.parse(sample.data)
        assert share == sample.share
        assert (env.envelope_id, env.context) == (original.envelope_id, original.context)
        assert _untagged(stanza) in [_untagged(s) for s in original.stanzas]


def _untagged(stanza: envelope.Stanza) -> envelope.Stanza:
    return dataclasses.replace(stanza, tag=None)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_header_replacement_harness_can_reproduce_the_sample(name: str) -> None:
    sample = SAMPLES[name]
    header = gen.header_of(sample.data)
    assert _frame(sample, header, True) == sample.data
