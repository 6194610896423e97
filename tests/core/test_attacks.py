"""Attacks by whoever can write the store, or by another user of the same store and KMS.

One test per property of docs/security.md's threat model (DESIGN section 9), each asserting that
the device refuses (a :class:`WalletBackupError`) or, where that is the honest outcome, still
returns only the user's own shares:

a. an envelope whose context names another wallet is refused by every operation;
b. nobody without one of the wallet's method secrets makes recover/verify return other shares;
c. a recipient added to the stored envelope never gets a later operation's new key;
d. after a confirmed change, an earlier cipher text does not open with a removed secret;
e. a replayed earlier document is refused by the device that saw a newer revision, and a
   custodian that saw a newer revision refuses an older client envelope.

The attacker's tools are in tests/fixtures/adversary.py; the fast methods ``quickpass`` and
``quicktoken`` in tests/fixtures/quick_methods.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import adversary as adv
import pytest
import quick_methods
from quick_methods import PASS, TOKEN, QuickToken

from walletbackup import WalletBackup
from walletbackup.errors import MalformedBackup, UnlockFailed, WalletBackupError
from walletbackup.results import BackupResult
from walletbackup.stores import Store

Shares = tuple[bytes, bytes]
Device = Callable[..., WalletBackup]

#: A cipher text or revision of another wallet: refused as malformed, or as failing to open.
WRONG_WALLET = (MalformedBackup, UnlockFailed)
MODES = ("managed", "self-managed")

VICTIM_PASS = "victim passphrase"
VICTIM_TOKEN = "victim token"
NEW_PASS = "victim's new passphrase"
MALLORY_PASS = "mallory passphrase"
MALLORY_TOKEN = "mallory token"


@pytest.fixture(autouse=True, scope="module")
def _quick_methods() -> Iterator[None]:
    with quick_methods.installed():
        yield


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    """Opens devices (WalletBackup instances) on one store and one KMS; each is a fresh one."""
    with ExitStack() as stack:

        def open_device(mode: str = "managed") -> WalletBackup:
            return stack.enter_context(
                WalletBackup(
                    store=f"sqlite://{tmp_path / 'backups.db'}",
                    kms=f"local://{tmp_path / 'custodian.key'}",
                    mode=mode,
                )
            )

        yield open_device


@pytest.fixture
def wb(device: Device) -> WalletBackup:
    """The victim's device, managed."""
    return device()


@pytest.fixture
def store(device: Device) -> Store:
    """The store, as its writer sees it."""
    return device().custodian.store


# --- the user's side ---------------------------------------------------------------------------


def unlock(passphrase: str = VICTIM_PASS) -> dict[str, Any]:
    return {"method": PASS, "passphrase": passphrase}


def shares_for(wallet: str, tag: str) -> Shares:
    return f"{wallet} client share {tag}".encode(), f"{wallet} custodian share {tag}".encode()


def kept(wb: WalletBackup, result: BackupResult) -> bytes:
    """Confirm a self-managed change (the application stored it); the current cipher text."""
    if wb.mode == "self-managed":
        wb.stored_client_backup_share(result.wallet_id, result.method, success=True)
    return result.cipher_text


def app_copy(wb: WalletBackup, cipher_text: bytes) -> dict[str, Any]:
    """What a change needs from the application: its cipher text, in self-managed mode."""
    return {"cipher_text": cipher_text} if wb.mode == "self-managed" else {}


def back_up(
    wb: WalletBackup,
    wallet: str,
    *,
    tag: str = "1",
    passphrase: str = VICTIM_PASS,
    token: str | None = None,
) -> tuple[Shares, bytes]:
    """A first backup with quickpass (and a quicktoken); the shares and current cipher text."""
    client, custodian = shares_for(wallet, tag)
    result = wb.backup_wallet(
        wallet, client, method=PASS, custodian_share=custodian, passphrase=passphrase
    )
    cipher_text = kept(wb, result)
    if token is not None:
        result = wb.add_backup_method(
            wallet,
            TOKEN,
            unlock_with=unlock(passphrase),
            token=token,
            **app_copy(wb, cipher_text),
        )
        cipher_text = kept(wb, result)
    return (client, custodian), cipher_text


def recovered(wb: WalletBackup, wallet: str, **options: Any) -> Shares | None:
    """The shares ``recover_wallet`` returned, or None when it refused."""
    try:
        result = wb.recover_wallet(wallet, **options)
    except WalletBackupError:
        return None
    return result.client_share, result.custodian_share


def only_own_shares(wb: WalletBackup, wallet: str, own: Shares, operation: str) -> None:
    """recover_wallet returns the user's shares or refuses; verify_backup refuses."""
    if operation == "verify":
        with pytest.raises(WalletBackupError):
            wb.verify_backup(wallet, method=PASS, passphrase=VICTIM_PASS)
    else:
        got = recovered(wb, wallet, method=PASS, passphrase=VICTIM_PASS)
        assert got in (None, own), "recovered shares that are not the user's"


def operate(wb: WalletBackup, operation: str, wallet: str, **extra: Any) -> Any:
    """One of the user's operations, unlocking with the user's passphrase."""
    match operation:
        case "recover":
            return wb.recover_wallet(wallet, method=PASS, passphrase=VICTIM_PASS, **extra)
        case "verify":
            return wb.verify_backup(wallet, method=PASS, passphrase=VICTIM_PASS, **extra)
        case "add method":
            return wb.add_backup_method(
                wallet, TOKEN, unlock_with=unlock(), token="another token", **extra
            )
        case "remove method":
            return wb.remove_backup_method(wallet, TOKEN, unlock_with=unlock(), **extra)
        case "rewrap":
            return wb.rewrap_backup(wallet, PASS, passphrase=VICTIM_PASS, **extra)
    raise AssertionError(operation)


OPERATIONS = ("recover", "verify", "add method", "remove method", "rewrap")


# --- a. an envelope whose context names another wallet -----------------------------------------


def _swap_whole_document(store: Store) -> None:
    adv.copy_document(store, "B", "A")


def _swap_revision(store: Store) -> None:
    a, b = adv.load(store, "A"), adv.load(store, "B")
    adv.copy_revision(b, a)
    adv.save(store, "A", a)


def _swap_client_envelope(store: Store) -> None:
    a, b = adv.load(store, "A"), adv.load(store, "B")
    adv.set_envelope(a, adv.get_envelope(b))
    adv.save(store, "A", a)


def _swap_both_envelopes(store: Store) -> None:
    a, b = adv.load(store, "A"), adv.load(store, "B")
    for name in adv.ENVELOPE_FIELDS:
        adv.set_envelope(a, adv.get_envelope(b, name), name)
    adv.save(store, "A", a)


SWAPS: dict[str, Callable[[Store], None]] = {
    "whole document": _swap_whole_document,
    "whole revision": _swap_revision,
    "client envelope": _swap_client_envelope,
    "both envelopes": _swap_both_envelopes,
}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("swap", SWAPS)
def test_a_a_stored_envelope_of_another_wallet_is_refused(
    wb: WalletBackup, store: Store, swap: str, operation: str
) -> None:
    """The user reuses one passphrase (and token) on wallets A and B; the store writer puts B's
    backup under A. Every operation on A refuses it: none returns or re-wraps B's share."""
    back_up(wb, "A", token=VICTIM_TOKEN)
    back_up(wb, "B", token=VICTIM_TOKEN)
    SWAPS[swap](store)
    with pytest.raises(WRONG_WALLET):
        operate(wb, operation, "A")


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_a_cipher_text_of_another_wallet_is_refused(device: Device, operation: str) -> None:
    """Self-managed: the application hands over wallet B's cipher text for wallet A."""
    wb = device("self-managed")
    back_up(wb, "A", token=VICTIM_TOKEN)
    _, b_cipher_text = back_up(wb, "B", token=VICTIM_TOKEN)
    with pytest.raises(WRONG_WALLET):
        operate(wb, operation, "A", cipher_text=b_cipher_text)


# --- b. nobody without a method secret makes the device recover other shares -------------------


@pytest.mark.parametrize("operation", ["recover", "verify"])
def test_b_the_store_writer_cannot_substitute_another_wallets_revision(
    wb: WalletBackup, store: Store, operation: str
) -> None:
    """Attack 1: a whole revision of wallet B (same passphrase) under wallet A's document."""
    own, _ = back_up(wb, "A")
    back_up(wb, "B")
    _swap_revision(store)
    only_own_shares(wb, "A", own, operation)


@pytest.mark.parametrize("operation", ["recover", "verify"])
def test_b_another_user_cannot_plant_her_backup_for_the_victims_secret(
    wb: WalletBackup, device: Device, store: Store, operation: str
) -> None:
    """Attack 2: Mallory seals her own client share, in her own wallet's context, to the
    victim's public recipient, and stores it with her own custodian envelope under the victim's
    document. The share commitment matches (she knows both shares); the victim's secret opens it.
    """
    own, _ = back_up(wb, "A")
    mallory = device()
    (her_client, _), _ = back_up(mallory, "M", passphrase=MALLORY_PASS)
    adv.plant_own_backup(store, victim="A", attacker_wallet="M", attacker_client_share=her_client)
    only_own_shares(wb, "A", own, operation)


@pytest.mark.parametrize("operation", ["recover", "verify"])
def test_b_another_user_backing_up_under_the_victims_id_cannot_plant_a_forgery(
    wb: WalletBackup, device: Device, store: Store, operation: str
) -> None:
    """Mallory backs up under the victim's wallet id with her own device (the embedded default
    checks no one), so the custodian envelope in A's context holds her share and commitment;
    then she writes a client envelope around her client share to the victim's old recipient."""
    own, victim_cipher_text = back_up(wb, "A")
    her_client, her_custodian = shares_for("M", "1")
    device().backup_wallet(
        "A",
        her_client,
        method=TOKEN,
        custodian_share=her_custodian,
        replace=True,
        token=MALLORY_TOKEN,
    )
    document = adv.load(store, "A")
    her_envelope = adv.get_envelope(document)
    assert her_envelope is not None
    forged = adv.forge(
        adv.context_of(her_envelope), her_client, adv.recipients_of(victim_cipher_text)
    )
    adv.set_envelope(document, forged)
    adv.describe_client(document[adv.CURRENT], forged)
    adv.save(store, "A", document)
    only_own_shares(wb, "A", own, operation)


@pytest.mark.parametrize("operation", ["recover", "verify"])
def test_b_a_forged_envelope_in_the_victims_context_is_refused(
    wb: WalletBackup, store: Store, operation: str
) -> None:
    """The store writer seals a share of her choosing in the victim's own context to the
    victim's recipients (public keys), keeping the victim's custodian envelope."""
    own, victim_cipher_text = back_up(wb, "A", token=VICTIM_TOKEN)
    forged = adv.forge(
        adv.context_of(victim_cipher_text),
        b"a share the store writer chose",
        adv.recipients_of(victim_cipher_text),
    )
    document = adv.load(store, "A")
    adv.set_envelope(document, forged)
    adv.describe_client(document[adv.CURRENT], forged)
    adv.save(store, "A", document)
    only_own_shares(wb, "A", own, operation)


@pytest.mark.parametrize("operation", ["recover", "verify"])
@pytest.mark.parametrize("source", ["another wallet", "an earlier backup set"])
def test_b_a_custodian_envelope_of_another_revision_is_refused(
    wb: WalletBackup, store: Store, source: str, operation: str
) -> None:
    """The store writer swaps in a custodian envelope (sealed by the real KMS) of wallet B, or
    of wallet A's backup set before a reshare, under A's current client envelope."""
    back_up(wb, "A")
    earlier = adv.load(store, "A")
    client, custodian = shares_for("A", "2")
    wb.backup_wallet("A", client, method=PASS, custodian_share=custodian, passphrase=VICTIM_PASS)
    back_up(wb, "B")
    donor = adv.load(store, "B") if source == "another wallet" else earlier
    document = adv.load(store, "A")
    adv.set_envelope(document, adv.get_envelope(donor, adv.CUSTODIAN), adv.CUSTODIAN)
    adv.save(store, "A", document)
    only_own_shares(wb, "A", (client, custodian), operation)


def _edit_token_stanza(store: Store, edit: str) -> None:
    """Drop the victim's quicktoken stanza (and its description), or reverse the stanzas."""
    document = adv.load(store, "A")
    data = adv.get_envelope(document)
    assert data is not None
    if edit == "drop":
        types = [stanza["type"] for stanza in adv.header(data)["stanzas"]]
        edited = adv.drop_stanza(data, types.index(TOKEN))
    else:
        edited = adv.reorder_stanzas(data)
    adv.set_envelope(document, edited)
    adv.describe_client(document[adv.CURRENT], edited)
    adv.save(store, "A", document)


@pytest.mark.parametrize("edit", ["drop", "reorder"])
def test_b_edited_stanzas_recover_only_the_users_shares(
    wb: WalletBackup, store: Store, edit: str
) -> None:
    own, _ = back_up(wb, "A", token=VICTIM_TOKEN)
    _edit_token_stanza(store, edit)
    for method, options in ((PASS, {"passphrase": VICTIM_PASS}), (TOKEN, {"token": VICTIM_TOKEN})):
        got = recovered(wb, "A", method=method, **options)
        assert got in (None, own)


# --- c. an added recipient never gets the next key ---------------------------------------------

PLANTS: dict[str, Callable[[bytes, adv.AttackerKey], bytes]] = {
    "stanza added to the header": adv.add_recipient_in_place,
    "envelope resealed with her recipient": lambda data, key: adv.reseal_with_recipient(
        data, key, b"a share mallory chose"
    ),
}


def _next_operation(wb: WalletBackup, operation: str) -> BackupResult:
    """The victim's next change of wallet A."""
    client, custodian = shares_for("A", "2")
    match operation:
        case "backup_wallet":
            return wb.backup_wallet(
                "A", client, method=PASS, custodian_share=custodian, passphrase=VICTIM_PASS
            )
        case "backup_wallet keeping methods":
            return wb.backup_wallet(
                "A",
                client,
                method=PASS,
                custodian_share=custodian,
                unlock_with={"method": TOKEN, "token": VICTIM_TOKEN},
                passphrase=VICTIM_PASS,
            )
        case "add_backup_method":
            return wb.add_backup_method("A", TOKEN, unlock_with=unlock(), token="a new token")
        case "rewrap_backup":
            return wb.rewrap_backup("A", PASS, passphrase=VICTIM_PASS)
    raise AssertionError(operation)


@pytest.mark.parametrize(
    "operation",
    ["backup_wallet", "backup_wallet keeping methods", "add_backup_method", "rewrap_backup"],
)
@pytest.mark.parametrize("plant", PLANTS)
def test_c_an_added_recipient_never_gets_a_later_key(
    wb: WalletBackup, store: Store, plant: str, operation: str
) -> None:
    """Attack 3: Mallory adds a quicktoken stanza of hers to the stored client envelope. After
    the victim's next operation, her secret opens no envelope the device wrote since (or the
    operation refuses)."""
    keeps_token = operation == "backup_wallet keeping methods"
    back_up(wb, "A", token=VICTIM_TOKEN if keeps_token else None)
    key = adv.attacker_key(QuickToken(token=MALLORY_TOKEN), "A", os.urandom(16))
    document = adv.load(store, "A")
    victim_envelope = adv.get_envelope(document)
    assert victim_envelope is not None
    planted = PLANTS[plant](victim_envelope, key)
    adv.set_envelope(document, planted)
    adv.describe_client(document[adv.CURRENT], planted)
    adv.save(store, "A", document)
    written: list[bytes] = []
    # A refusal is fine: the attack is about what a normal return hands her.
    with suppress(WalletBackupError):
        written.append(_next_operation(wb, operation).cipher_text)
    after = adv.load(store, "A")
    written += [
        data
        for revision in adv.REVISIONS
        if (data := adv.get_envelope(after, revision=revision)) not in (None, planted)
    ]
    for data in written:
        assert adv.opens(data, key) is None, "the attacker opened the victim's new envelope"
        assert not adv.wraps_to(data, key.public), "the new backup key is wrapped to her"


@pytest.mark.parametrize("unlocked", [False, True])
@pytest.mark.parametrize("edit", ["drop", "reorder"])
def test_c_an_edited_stanza_list_never_silently_drops_a_method(
    wb: WalletBackup, store: Store, edit: str, unlocked: bool
) -> None:
    """The store writer drops the victim's quicktoken stanza (or reorders the stanzas) before
    the next backup_wallet: it refuses, or the token still recovers the newest shares. Nothing is
    ever dropped silently (docs/api.md), whoever edited the store."""
    back_up(wb, "A", token=VICTIM_TOKEN)
    _edit_token_stanza(store, edit)
    client, custodian = shares_for("A", "2")
    unlock_with: dict[str, Any] = {"unlock_with": unlock()} if unlocked else {}
    try:
        wb.backup_wallet(
            "A",
            client,
            method=PASS,
            custodian_share=custodian,
            passphrase=VICTIM_PASS,
            **unlock_with,
        )
    except WalletBackupError:
        return  # refused: nothing was dropped
    got = wb.recover_wallet("A", method=TOKEN, token=VICTIM_TOKEN)
    assert (got.client_share, got.custodian_share) == (client, custodian)


# --- d. a confirmed change closes the earlier cipher text ---------------------------------------


def _change(wb: WalletBackup, change: str, cipher_text: bytes) -> dict[str, Any]:
    """Make and confirm a change; the unlock options of the secret it removed."""
    match change:
        case "password change":
            result = wb.add_backup_method(
                "A", PASS, unlock_with=unlock(), passphrase=NEW_PASS, **app_copy(wb, cipher_text)
            )
            removed = unlock()
        case "method removed":
            result = wb.remove_backup_method(
                "A", TOKEN, unlock_with=unlock(), **app_copy(wb, cipher_text)
            )
            removed = {"method": TOKEN, "token": VICTIM_TOKEN}
        case "replace":
            client, custodian = shares_for("A", "2")
            result = wb.backup_wallet(
                "A",
                client,
                method=PASS,
                custodian_share=custodian,
                replace=True,
                passphrase=NEW_PASS,
            )
            removed = {"method": TOKEN, "token": VICTIM_TOKEN}
        case _:
            raise AssertionError(change)
    kept(wb, result)
    return removed


@pytest.mark.parametrize("operation", ["recover", "verify"])
@pytest.mark.parametrize("reader", ["same device", "fresh device"])
@pytest.mark.parametrize("change", ["password change", "method removed", "replace"])
@pytest.mark.parametrize("mode", MODES)
def test_d_a_confirmed_change_closes_the_earlier_cipher_text(
    device: Device, mode: str, change: str, reader: str, operation: str
) -> None:
    """Attack 5: whoever kept the earlier cipher text and learns the removed secret (an old
    password, a lost token) must not get the shares through recover_wallet/verify_backup."""
    wb = device(mode)
    _, old_cipher_text = back_up(wb, "A", token=VICTIM_TOKEN)
    removed = _change(wb, change, old_cipher_text)
    opener = wb if reader == "same device" else device(mode)
    method = removed.pop("method")
    call = opener.recover_wallet if operation == "recover" else opener.verify_backup
    with pytest.raises(WalletBackupError):
        call("A", method=method, cipher_text=old_cipher_text, **removed)


def test_d_a_confirmation_shown_a_replayed_pending_backup_confirms_nothing(
    device: Device, store: Store
) -> None:
    """Self-managed: while a passphrase change is pending, the store writer replays the
    document from when the first backup was pending, so the custodian shows that one as the
    pending backup. The application's confirmation is for the change: the device confirms
    nothing else, the earlier cipher text stays closed, and once the document is back the
    confirmation goes through."""
    wb = device("self-managed")
    client, custodian = shares_for("A", "1")
    first = wb.backup_wallet(
        "A", client, method=PASS, custodian_share=custodian, passphrase=VICTIM_PASS
    )
    earlier = adv.snapshot(store, "A")
    kept(wb, first)
    change = wb.add_backup_method(
        "A", PASS, unlock_with=unlock(), passphrase=NEW_PASS, cipher_text=first.cipher_text
    )
    now = adv.snapshot(store, "A")
    adv.replay(store, "A", earlier)
    with pytest.raises(WalletBackupError):
        wb.stored_client_backup_share("A", PASS, success=True)
    with pytest.raises(WalletBackupError):
        wb.recover_wallet("A", method=PASS, passphrase=VICTIM_PASS, cipher_text=first.cipher_text)
    adv.replay(store, "A", now)
    wb.stored_client_backup_share("A", PASS, success=True)
    with pytest.raises(WalletBackupError):
        wb.recover_wallet("A", method=PASS, passphrase=VICTIM_PASS, cipher_text=first.cipher_text)
    got = recovered(wb, "A", method=PASS, passphrase=NEW_PASS, cipher_text=change.cipher_text)
    assert got == (client, custodian)


def test_d_a_pending_change_hidden_from_a_read_is_not_confirmed_afterwards(
    device: Device, store: Store
) -> None:
    """Self-managed: while a passphrase change is pending, the store writer shows the device
    the document without it (the device, reading the wallet, takes the change as abandoned),
    then shows it again for the application's confirmation. Confirming a revision the device
    holds abandoned would pin nothing newer, and the earlier cipher text would open again on
    a replayed document: the device refuses the confirmation instead."""
    wb = device("self-managed")
    own, cipher_text = back_up(wb, "A")
    before = adv.snapshot(store, "A")
    change = wb.add_backup_method(
        "A", PASS, unlock_with=unlock(), passphrase=NEW_PASS, cipher_text=cipher_text
    )
    now = adv.snapshot(store, "A")
    adv.replay(store, "A", before)
    assert recovered(wb, "A", method=PASS, passphrase=VICTIM_PASS, cipher_text=cipher_text) == own
    adv.replay(store, "A", now)
    with pytest.raises(WalletBackupError):
        wb.stored_client_backup_share("A", PASS, success=True)
    view = wb.custodian.view("A")
    assert view is not None and view.pending is not None
    assert view.pending.revision == change.revision  # nothing was confirmed behind her back


# --- e. rollback ---------------------------------------------------------------------------------


def _newer(wb: WalletBackup, change: str) -> None:
    """A managed change of wallet A that leaves the victim's passphrase or token usable on the
    earlier document."""
    match change:
        case "password change":
            wb.add_backup_method("A", PASS, unlock_with=unlock(), passphrase=NEW_PASS)
        case "new shares":
            client, custodian = shares_for("A", "2")
            wb.backup_wallet(
                "A",
                client,
                method=PASS,
                custodian_share=custodian,
                replace=True,
                passphrase=VICTIM_PASS,
            )
        case "method added":
            wb.add_backup_method("A", TOKEN, unlock_with=unlock(), token="a second token")
        case "method removed":
            wb.remove_backup_method("A", TOKEN, unlock_with=unlock())
        case _:
            raise AssertionError(change)


ROLLBACK_CHANGES = ("password change", "new shares", "method added", "method removed")


@pytest.mark.parametrize("operation", ["recover", "verify"])
@pytest.mark.parametrize("seen_by", ["the device that made the change", "a device that read it"])
@pytest.mark.parametrize("change", ROLLBACK_CHANGES)
def test_e_a_device_that_saw_a_newer_revision_refuses_a_replayed_document(
    wb: WalletBackup, device: Device, store: Store, change: str, seen_by: str, operation: str
) -> None:
    """Attack 4: the store writer saves wallet A's document, waits for a change, and puts the
    saved document back; the earlier secrets open it again unless the device notices."""
    back_up(wb, "A", token=VICTIM_TOKEN)
    earlier = adv.snapshot(store, "A")
    _newer(wb, change)
    reader = wb
    if seen_by == "a device that read it":
        reader = device()
        passphrase = NEW_PASS if change == "password change" else VICTIM_PASS
        reader.verify_backup("A", method=PASS, passphrase=passphrase)
    adv.replay(store, "A", earlier)
    with pytest.raises(WalletBackupError):
        operate(reader, operation, "A")


@pytest.mark.parametrize("change", ["password change", "method removed", "new shares"])
def test_e_a_custodian_that_saw_a_newer_revision_refuses_an_older_client_envelope(
    wb: WalletBackup, device: Device, store: Store, change: str
) -> None:
    """The store writer rolls back only the device's part of the revision (the client envelope
    and what describes it) under the custodian's newer part; a fresh device, which remembers
    nothing, is refused by the custodian."""
    back_up(wb, "A", token=VICTIM_TOKEN)
    earlier = adv.load(store, "A")
    _newer(wb, change)
    document = adv.load(store, "A")
    adv.copy_revision(earlier, document, keep=(adv.CUSTODIAN,))
    adv.save(store, "A", document)
    fresh = device()
    with pytest.raises(WalletBackupError):
        fresh.recover_wallet("A", method=PASS, passphrase=VICTIM_PASS)
    with pytest.raises(WalletBackupError):
        fresh.recover_wallet("A", method=TOKEN, token=VICTIM_TOKEN)


def test_e_a_denied_pending_backup_promoted_by_the_store_writer_is_refused(
    device: Device, store: Store
) -> None:
    """Self-managed: the application reports that it could not store the new cipher text
    (``success=False``); the store writer, who saved the document while the backup was pending,
    promotes it to current. The device that denied it does not recover the denied shares."""
    wb = device("self-managed")
    own, cipher_text = back_up(wb, "A")
    client, custodian = shares_for("A", "2")
    denied = wb.backup_wallet(
        "A", client, method=PASS, custodian_share=custodian, passphrase=VICTIM_PASS
    )
    pending = adv.load(store, "A")
    wb.stored_client_backup_share("A", PASS, success=False)
    adv.promote_pending(pending)
    adv.save(store, "A", pending)
    with pytest.raises(WalletBackupError):
        wb.recover_wallet("A", method=PASS, passphrase=VICTIM_PASS, cipher_text=denied.cipher_text)
    got = recovered(wb, "A", method=PASS, passphrase=VICTIM_PASS, cipher_text=cipher_text)
    assert got in (None, own)


@pytest.mark.parametrize("answer", ["confirmed", "not yet confirmed"])
def test_e_a_pending_backup_the_store_writer_hid_then_promoted_is_refused(
    device: Device, store: Store, answer: str
) -> None:
    """Self-managed: the store writer saves the document while a backup is pending, puts back
    the one from before it, lets the user make a newer backup on that, and then promotes the
    saved pending one. The device proposed the hidden revision itself: it never gives its number
    to another envelope, and no revision but the newest it proposed can land any more."""
    wb = device("self-managed")
    back_up(wb, "A")
    before = adv.snapshot(store, "A")
    client, custodian = shares_for("A", "2")
    hidden = wb.backup_wallet(
        "A", client, method=PASS, custodian_share=custodian, passphrase=VICTIM_PASS
    )
    pending = adv.load(store, "A")
    adv.replay(store, "A", before)
    client, custodian = shares_for("A", "3")
    newer = wb.backup_wallet(
        "A", client, method=PASS, custodian_share=custodian, passphrase=NEW_PASS
    )
    assert newer.revision > hidden.revision
    if answer == "confirmed":
        kept(wb, newer)
    adv.promote_pending(pending)
    adv.save(store, "A", pending)
    with pytest.raises(WalletBackupError):
        wb.recover_wallet("A", method=PASS, passphrase=VICTIM_PASS, cipher_text=hidden.cipher_text)


def test_e_a_pending_backup_promoted_after_a_backup_on_a_swapped_document_is_refused(
    device: Device, store: Store
) -> None:
    """Self-managed: while a backup of wallet A is pending, the store writer puts the document
    of a wallet further along under A's name; the user's next backup (``replace=True``, which
    authenticates nothing it reads) is built on it; then she puts back A's document with the
    pending backup promoted. The device proposed a newer revision on a base above the pending
    one, so that one can never be current again."""
    wb = device("self-managed")
    back_up(wb, "A")
    for tag in "123":
        back_up(wb, "B", tag=tag)
    client, custodian = shares_for("A", "2")
    hidden = wb.backup_wallet(
        "A", client, method=PASS, custodian_share=custodian, passphrase=VICTIM_PASS
    )
    pending = adv.load(store, "A")
    adv.copy_document(store, "B", "A")
    client, custodian = shares_for("A", "3")
    wb.backup_wallet(
        "A", client, method=PASS, custodian_share=custodian, replace=True, passphrase=NEW_PASS
    )
    adv.promote_pending(pending)
    adv.save(store, "A", pending)
    with pytest.raises(WalletBackupError):
        wb.recover_wallet("A", method=PASS, passphrase=VICTIM_PASS, cipher_text=hidden.cipher_text)


def test_e_a_denied_pending_backup_the_device_was_shown_as_current_is_refused(
    device: Device, store: Store
) -> None:
    """Self-managed: the store writer promotes the pending backup before the application
    answers, and the device reads it as current (it cannot tell that from a confirmation made
    elsewhere); she puts the pending document back, the application reports it could not store
    the cipher text (``success=False``), and she promotes it again. The device's own denial
    outweighs what the store showed it: it does not recover the denied shares."""
    wb = device("self-managed")
    own, cipher_text = back_up(wb, "A")
    client, custodian = shares_for("A", "2")
    denied = wb.backup_wallet(
        "A", client, method=PASS, custodian_share=custodian, passphrase=VICTIM_PASS
    )
    pending = adv.snapshot(store, "A")
    promoted = adv.decode_document(pending)
    adv.promote_pending(promoted)
    adv.save(store, "A", promoted)
    wb.verify_backup("A", method=PASS, passphrase=VICTIM_PASS, cipher_text=denied.cipher_text)
    adv.replay(store, "A", pending)
    wb.stored_client_backup_share("A", PASS, success=False)
    adv.save(store, "A", promoted)
    with pytest.raises(WalletBackupError):
        wb.recover_wallet("A", method=PASS, passphrase=VICTIM_PASS, cipher_text=denied.cipher_text)
    got = recovered(wb, "A", method=PASS, passphrase=VICTIM_PASS, cipher_text=cipher_text)
    assert got in (None, own)
