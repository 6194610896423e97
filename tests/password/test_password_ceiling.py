"""The unlock ceiling from the password method's side: hostile costs refused before any KDF."""

from __future__ import annotations

from pathlib import Path

import pytest

from walletbackup import PolicyViolation, WalletBackup, kdf
from walletbackup.kdf import Argon2Params
from walletbackup.methods import MethodContext
from walletbackup_password import PasswordMethod

CONTEXT = MethodContext("aa" * 16, "bb" * 16, "cc" * 32, "dd" * 8)
PASSWORD = "kx7mq2vz9tpa-river"
GIB = 1024 * 1024
#: One stanza at the old documented bounds: about ten minutes and 4 GiB to open.
AT_THE_BOUNDS = {
    "kdf": "argon2id",
    "v": 19,
    "salt": "AAECAwQFBgcICQoLDA0ODw",
    "t": 64,
    "m": 4 * GIB,
    "p": 16,
    "profile": "rfc9106",
    "kind": "password",
}


@pytest.mark.usefixtures("kdf_forbidden")
def test_validate_args_refuses_a_stanza_at_the_bounds_before_any_kdf() -> None:
    with pytest.raises(PolicyViolation) as caught:
        PasswordMethod.validate_args(AT_THE_BOUNDS)
    message = str(caught.value)
    assert "memory 4 GiB > 1 GiB and work (t x m) 256 GiB > 16 GiB" in message
    assert 'WALLETBACKUP_KDF_CEILING="memory=4GiB,work=256GiB"' in message


@pytest.mark.usefixtures("kdf_forbidden")
def test_unlock_refuses_a_stanza_at_the_bounds_before_any_kdf() -> None:
    with pytest.raises(PolicyViolation, match="exceed this device's unlock ceiling"):
        PasswordMethod(password=PASSWORD).unlock(AT_THE_BOUNDS, CONTEXT)


@pytest.mark.usefixtures("kdf_forbidden")
def test_a_raised_ceiling_lets_the_same_stanza_reach_the_kdf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=4GiB,work=256GiB")
    PasswordMethod.validate_args(AT_THE_BOUNDS)
    # The forbidden KDF is where unlock now goes: the ceiling was the only thing in the way.
    with pytest.raises(AssertionError, match="the KDF ran"):
        PasswordMethod(password=PASSWORD).unlock(AT_THE_BOUNDS, CONTEXT)


@pytest.mark.usefixtures("kdf_forbidden")
def test_a_ceiling_that_does_not_parse_is_a_policy_violation_at_unlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=2GB")
    with pytest.raises(PolicyViolation, match="WALLETBACKUP_KDF_CEILING='memory=2GB' is not"):
        PasswordMethod(password=PASSWORD).unlock(AT_THE_BOUNDS | {"t": 3, "m": 65536}, CONTEXT)


@pytest.mark.usefixtures("kdf_forbidden")
def test_enroll_refuses_explicit_costs_this_device_would_not_open() -> None:
    method = PasswordMethod(password=PASSWORD, params=Argon2Params(3, 2 * GIB, 4))
    with pytest.raises(PolicyViolation, match=r"memory 2 GiB > 1 GiB.*memory=2GiB,work=16GiB"):
        method.enroll(CONTEXT)


def test_enroll_with_deliberately_higher_costs_once_the_ceiling_allows_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The ceiling is lowered so that cheap costs stand for "deliberately higher" ones: refused
    # at enroll while above it, they enroll and open once it is raised to allow them.
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=19MiB,work=38MiB")
    costly = Argon2Params(3, 19 * 1024, 1)
    method = PasswordMethod(password=PASSWORD, low_memory=True, params=costly)
    with pytest.raises(PolicyViolation, match="work=57MiB"):
        method.enroll(CONTEXT)
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=19MiB,work=57MiB")
    enrollment = method.enroll(CONTEXT)
    assert PasswordMethod(password=PASSWORD).unlock(enrollment.args, CONTEXT) == enrollment.secret


def test_calibration_at_enroll_stays_under_a_lowered_ceiling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A generous target and cap: only the ceiling (20 MiB, 40 MiB of work) holds the costs down.
    monkeypatch.setenv(kdf.CEILING_ENV, "memory=20MiB,work=40MiB")
    method = PasswordMethod(password=PASSWORD, low_memory=True, target_seconds=5, max_memory_mib=64)
    enrollment = method.enroll(CONTEXT)
    t, m = enrollment.args["t"], enrollment.args["m"]
    assert isinstance(t, int) and isinstance(m, int)
    assert m <= 20 * 1024 and t * m <= 40 * 1024
    assert PasswordMethod(password=PASSWORD).unlock(enrollment.args, CONTEXT) == enrollment.secret


# --- through the API: the core asks validate_args before any unlock ----------------------------


def test_recovery_with_costs_above_the_ceiling_is_refused_before_any_kdf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = {"low_memory": True, "target_seconds": 0.001}  # t=2, 19 MiB: the cheapest allowed
    with WalletBackup(
        store=f"sqlite://{tmp_path / 'backups.db'}", kms=f"local://{tmp_path / 'custodian.key'}"
    ) as wb:
        wb.backup_wallet(
            "wallet-1",
            b"client",
            method="password",
            password=PASSWORD,
            custodian_share=b"custodian",
            **fast,
        )
        # This device's ceiling is lowered below the stored costs: the stanza is refused unopened.
        monkeypatch.setenv(kdf.CEILING_ENV, "memory=16MiB")
        with monkeypatch.context() as patch:
            patch.setattr(kdf, "hash_secret_raw", _kdf_ran)
            with pytest.raises(PolicyViolation, match="memory 19 MiB > 16 MiB"):
                wb.recover_wallet("wallet-1", method="password", password=PASSWORD)
        monkeypatch.delenv(kdf.CEILING_ENV)
        recovered = wb.recover_wallet("wallet-1", method="password", password=PASSWORD)
        assert recovered.client_share == b"client"


def _kdf_ran(*args: object, **kwargs: object) -> bytes:
    raise AssertionError("the KDF ran")
