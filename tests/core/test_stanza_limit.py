"""A wallet holds at most 16 methods (the format's stanza limit): the 17th is a policy, refused
before anything is enrolled or written; never a malformed backup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import quick_methods
from quick_methods import TOKEN, QuickToken

from walletbackup import WalletBackup, envelope
from walletbackup.errors import PolicyViolation
from walletbackup.methods import Enrollment, MethodContext

CLIENT, CUSTODIAN = b"c" * 32, b"k" * 32


@pytest.fixture
def wb(tmp_path: Path) -> Iterator[WalletBackup]:
    with (
        quick_methods.installed(),
        WalletBackup(
            store=f"sqlite://{tmp_path / 'b.db'}",
            kms=f"local://{tmp_path / 'k.key'}",
            device_state=tmp_path / "device.json",
        ) as instance,
    ):
        yield instance


@pytest.fixture
def enrolled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stanza ids QuickToken enrolls, in order."""
    seen: list[str] = []
    enroll = QuickToken.enroll

    def counting(self: QuickToken, context: MethodContext) -> Enrollment:
        seen.append(context.stanza_id)
        return enroll(self, context)

    monkeypatch.setattr(QuickToken, "enroll", counting)
    return seen


def _full(wb: WalletBackup) -> None:
    wb.backup_wallet("w", CLIENT, method=TOKEN, token="t0", custodian_share=CUSTODIAN)
    for i in range(1, envelope.MAX_STANZAS):
        wb.add_backup_method(
            "w", TOKEN, unlock_with={"method": TOKEN, "token": "t0"}, token=f"t{i}"
        )


def test_the_17th_method_is_a_policy_violation_before_anything_is_enrolled(
    wb: WalletBackup, enrolled: list[str]
) -> None:
    _full(wb)
    assert len(enrolled) == envelope.MAX_STANZAS == 16
    before = wb.custodian.view("w")
    with pytest.raises(PolicyViolation, match="a wallet holds at most 16 methods") as caught:
        wb.add_backup_method("w", TOKEN, unlock_with={"method": TOKEN, "token": "t0"}, token="x")
    assert "remove one first" in str(caught.value)
    assert len(enrolled) == 16
    after = wb.custodian.view("w")
    assert before is not None and after is not None
    assert (after.last_revision, after.current, after.pending) == (
        before.last_revision,
        before.current,
        before.pending,
    )
    assert len(wb.backup_status("w")) == 16


def test_removing_one_makes_room(wb: WalletBackup, enrolled: list[str]) -> None:
    _full(wb)
    unlock = {"method": TOKEN, "token": "t0"}
    wb.remove_backup_method("w", TOKEN, unlock_with=unlock, stanza_id=enrolled[-1])
    result = wb.add_backup_method("w", TOKEN, unlock_with=unlock, token="x")
    assert result.status == "stored"
    assert wb.recover_wallet("w", method=TOKEN, token="x").client_share == CLIENT


def test_a_backup_that_keeps_16_methods_and_adds_one_is_refused_too(
    wb: WalletBackup, enrolled: list[str]
) -> None:
    _full(wb)
    with pytest.raises(PolicyViolation, match="at most 16 methods"):
        wb.backup_wallet(
            "w",
            CLIENT,
            method=TOKEN,
            token="x",
            custodian_share=CUSTODIAN,
            unlock_with={"method": TOKEN, "token": "t0"},
        )
    assert len(enrolled) == 16
    # Replacing them all is not adding: it fits.
    wb.backup_wallet("w", CLIENT, method=TOKEN, token="x", custodian_share=CUSTODIAN, replace=True)
    assert len(wb.backup_status("w")) == 1
