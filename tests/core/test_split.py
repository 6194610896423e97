"""The 2-of-2 one-time-pad split for applications without an MPC engine."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletbackup.errors import MalformedBackup
from walletbackup.split import combine_shares, split_secret


@given(st.binary(min_size=1, max_size=4096))
def test_combine_returns_the_split_secret(secret: bytes) -> None:
    client, custodian = split_secret(secret)
    assert len(client) == len(custodian) == len(secret)
    assert combine_shares(client, custodian) == secret


@given(st.binary(min_size=1, max_size=256), st.binary(min_size=1, max_size=256))
def test_any_custodian_share_is_consistent_with_any_secret(secret: bytes, other: bytes) -> None:
    # One-time pad: for a given custodian share, every secret of that length has a client share
    # that explains it, so the custodian share alone says nothing about the secret.
    _, custodian = split_secret(secret)
    other = (other * len(secret))[: len(secret)]
    forged_client = bytes(a ^ b for a, b in zip(other, custodian, strict=True))
    assert combine_shares(forged_client, custodian) == other


def test_client_share_is_a_fresh_pad_each_time() -> None:
    secret = os.urandom(32)
    first, second = split_secret(secret), split_secret(secret)
    assert first[0] != second[0]
    assert first[1] != second[1]
    assert secret not in first
    assert secret not in second


def test_shares_of_an_all_zero_secret_are_equal_pads() -> None:
    client, custodian = split_secret(bytes(32))
    assert client == custodian != bytes(32)


def test_empty_secret_cannot_be_split() -> None:
    with pytest.raises(ValueError, match="empty"):
        split_secret(b"")


@pytest.mark.parametrize(("client", "custodian"), [(bytes(32), bytes(31)), (b"", bytes(1))])
def test_shares_of_different_lengths_are_malformed(client: bytes, custodian: bytes) -> None:
    with pytest.raises(MalformedBackup, match="lengths must match"):
        combine_shares(client, custodian)


def test_empty_shares_are_malformed() -> None:
    with pytest.raises(MalformedBackup, match="empty"):
        combine_shares(b"", b"")
