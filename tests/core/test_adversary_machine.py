"""A store writer interleaves attacks with the user's operations; the device must hold.

The user, through the public API only, backs up new shares, adds and removes methods, changes
her passphrase, confirms (self-managed), recovers and verifies, on two wallets. Between any two
steps the adversary replays an earlier document or envelope, swaps documents or envelopes
between wallets (her own included), adds, drops or reorders stanzas, plants her own backup
wrapped to the victim's recipients, or promotes a pending revision. Checked throughout:

* recover_wallet returns exactly the shares the user last backed up, or refuses; on a store as
  the device last left it, it returns them (so the device cannot pass by refusing everything),
  and every change the user makes there succeeds;
* no envelope the device writes is wrapped to a recipient of the adversary's;
* an earlier cipher text (of a revision a confirmed change replaced) is refused, whatever secret
  it was made with, and a removed secret opens nothing.

The passphrases come from a small pool shared by both wallets: a user who reuses a passphrase
is what makes a swapped document open at all.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import adversary as adv
import pytest
import quick_methods
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from quick_methods import PASS, TOKEN, QuickToken

from walletbackup import WalletBackup, audit, custodian, envelope, state
from walletbackup.errors import WalletBackupError
from walletbackup.kms import LocalKms
from walletbackup.results import BackupResult
from walletbackup.stores import MemoryStore

Shares = tuple[bytes, bytes]
Secret = tuple[str, str]  # (method, the option its secret comes from)

WALLETS = ("w1", "w2")
MALLORY = "mallory"
PASSPHRASES = ("alpha", "bravo", "charlie")
TOKENS = ("token-1", "token-2", "token-3")
OPTION = {PASS: "passphrase", TOKEN: "token"}
#: Stanzas per envelope the run stays under (the format allows 16), attacker's included.
MAX_STANZAS = 6
STOPPED_AT = "2026-01-01T00:00:00+00:00"

# Bounded for two shared cores: about fifteen seconds per mode when every step passes (some
# 4,500 steps: 120 runs of up to 40), under forty for the file; finding and shrinking a
# failure takes longer. Runs of 40 steps leave room for the attacks that take a dozen steps
# (back up, promote, read, restore, answer, promote again); 120 of them found each one this
# machine has found so far within a few seeds.
SETTINGS = settings(
    max_examples=120,
    stateful_step_count=40,
    deadline=None,
    database=None,
)

wallets = st.sampled_from(WALLETS)
picks = st.integers(min_value=0, max_value=7)


@pytest.fixture(autouse=True, scope="module")
def _quick_methods() -> Iterator[None]:
    with quick_methods.installed():
        yield


@pytest.fixture(autouse=True)
def _stopped_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every record the run writes carries the same time.

    A read stamps the method statuses with the second it ran: whether the document then differs
    from the one the device last left (and joins the adversary's replay pool) would depend on
    the clock ticking between two steps, so Hypothesis, replaying an example, would see other
    preconditions hold (``FlakyStrategyDefinition``).
    """
    for module in (state, custodian, audit):
        monkeypatch.setattr(module, "now", lambda: STOPPED_AT)


@dataclass(frozen=True)
class Backup:
    """What the user knows of one revision: its shares, its secrets, its cipher text."""

    shares: Shares
    stanzas: tuple[Secret, ...]  # one per stanza: a token may be enrolled twice
    cipher_text: bytes
    reason: str  # the method the change named: what stored_client_backup_share confirms

    @property
    def secrets(self) -> frozenset[Secret]:
        return frozenset(self.stanzas)

    def without(self, method: str) -> tuple[Secret, ...]:
        return tuple(s for s in self.stanzas if s[0] != method)

    @property
    def envelope_id(self) -> str:
        return envelope.parse(self.cipher_text).envelope_id.hex()


@dataclass
class Wallet:
    """The model of one wallet, and what the adversary has collected of it."""

    current: Backup | None = None
    pending: Backup | None = None  # self-managed: handed back, not yet confirmed
    retired: list[Backup] = field(default_factory=list)
    ever: set[Secret] = field(default_factory=set)
    tampered: bool = False  # the adversary wrote the document since the device last left it
    #: an operation returned normally on a tampered document: from then on the device may refuse
    #: (never return other shares), as it may have built on what the adversary wrote
    tainted: bool = False
    good: bytes | None = None  # the document as the device last left it
    documents: list[bytes] = field(default_factory=list)  # every such document, for replay
    #: Cipher texts of backups the user never confirmed that the adversary made current while
    #: they were pending. The device cannot tell that from a confirmation made elsewhere (another
    #: process, another device, one that died before it settled), so it may take them as current
    #: and build the next change on them: then they stay the recovery path until a change the
    #: user confirms replaces them, as a confirmed backup would (docs/security.md, "Rollback and
    #: freeze"). Not once the device itself abandoned one (superseded or denied it while the
    #: store showed it pending): the device's own word outweighs what the store showed it.
    shown_current: set[bytes] = field(default_factory=set)

    @property
    def honest(self) -> bool:
        """Only the user ever wrote this wallet's store: the device must not refuse anything."""
        return not (self.tampered or self.tainted)


def unlock_options(secret: Secret) -> dict[str, Any]:
    method, value = secret
    return {"method": method, OPTION[method]: value}


def holds_pending(document: adv.Document, backup: Backup) -> bool:
    pending = document.get(adv.PENDING)
    return isinstance(pending, dict) and pending.get("client_envelope_id") == backup.envelope_id


def pick(items: list[Any] | tuple[Any, ...] | frozenset[Any] | set[Any], index: int) -> Any:
    ordered = sorted(items)
    return ordered[index % len(ordered)]


class AdversaryMachine(RuleBasedStateMachine):
    """The user's device in managed mode; :class:`SelfManagedMachine` in self-managed mode."""

    mode: ClassVar[str] = "managed"

    def __init__(self) -> None:
        super().__init__()
        self.self_managed = self.mode == "self-managed"
        self.store = MemoryStore("memory:")
        self.kms_dir = tempfile.TemporaryDirectory()
        kms = LocalKms(f"local://{self.kms_dir.name}/custodian.key")
        self.kms = kms
        self.wb = WalletBackup(store=self.store, kms=kms, mode=self.mode)
        self.wallets = {w: Wallet() for w in WALLETS}
        self.made = 0
        self.keys: list[adv.AttackerKey] = []
        self.planted: set[bytes] = set()
        mallory = WalletBackup(store=self.store, kms=kms)
        self.mallory_share = b"mallory's client share"
        mallory.backup_wallet(
            MALLORY,
            self.mallory_share,
            method=PASS,
            custodian_share=b"mallory's custodian share",
            passphrase="mallory's passphrase",
        )

    def teardown(self) -> None:
        self.wb.close()
        self.kms_dir.cleanup()

    # --- the user's side, through the public API ---------------------------------------------

    def _shares(self) -> Shares:
        self.made += 1
        return f"client share {self.made}".encode(), f"custodian share {self.made}".encode()

    def _app_copy(self, backup: Backup) -> dict[str, Any]:
        return {"cipher_text": backup.cipher_text} if self.self_managed else {}

    def _left(self, wallet: str) -> None:
        """An operation returned normally: the document is as the device left it."""
        model = self.wallets[wallet]
        model.tainted |= model.tampered
        model.tampered = False
        document = self.store.load(wallet)
        if document is not None and document != model.good:
            model.good = document
            model.documents.append(document)

    def _change(
        self, wallet: str, call: Callable[[], BackupResult], backup: Callable[[bytes], Backup]
    ) -> None:
        """Run a change; on a normal return it is the user's newest backup (or pending one)."""
        model = self.wallets[wallet]
        abandons = self._shows_pending(wallet, model.pending)
        try:
            result = call()
        except WalletBackupError:
            assert not model.honest, "the device refused a change nobody tampered with"
            return
        self._not_to_the_adversary(result.cipher_text)
        made = backup(result.cipher_text)
        model.ever |= made.secrets
        if self.self_managed:
            if model.pending is not None:
                model.retired.append(model.pending)  # superseded
                if abandons:
                    model.shown_current.discard(model.pending.cipher_text)
            model.pending = made
        else:
            if model.current is not None:
                model.retired.append(model.current)
            model.current = made
            model.shown_current.clear()
        self._left(wallet)

    def _shows_pending(self, wallet: str, backup: Backup | None) -> bool:
        """Whether the store holds ``backup`` as the wallet's pending revision."""
        document = self._current_document(wallet)
        return document is not None and backup is not None and holds_pending(document, backup)

    @rule(wallet=wallets, passphrase=st.sampled_from(PASSPHRASES), replace=st.booleans(), i=picks)
    def back_up(self, wallet: str, passphrase: str, replace: bool, i: int) -> None:
        current = self.wallets[wallet].current
        shares = self._shares()
        kept: tuple[Secret, ...] = ()
        extra: dict[str, Any] = {}
        if current is not None and not replace:
            kept = current.without(PASS)
            if kept:  # keeping other methods takes one unlock (and the current cipher text)
                extra = {"unlock_with": unlock_options(pick(current.secrets, i))}
                extra |= self._app_copy(current)
        self._change(
            wallet,
            lambda: self.wb.backup_wallet(
                wallet,
                shares[0],
                method=PASS,
                custodian_share=shares[1],
                replace=replace,
                passphrase=passphrase,
                **extra,
            ),
            lambda ct: Backup(shares, (*kept, (PASS, passphrase)), ct, PASS),
        )

    def _method_change(
        self,
        call: Callable[..., BackupResult],
        wallet: str,
        method: str,
        i: int,
        stanzas: tuple[Secret, ...],
        **options: Any,
    ) -> None:
        """add_backup_method or remove_backup_method, unlocking with a current secret."""
        current = self.wallets[wallet].current
        assert current is not None  # the rules' preconditions
        self._change(
            wallet,
            lambda: call(
                wallet,
                method,
                unlock_with=unlock_options(pick(current.secrets, i)),
                **self._app_copy(current),
                **options,
            ),
            lambda ct: Backup(current.shares, stanzas, ct, method),
        )

    def _backed_up(self, where: Callable[[Backup], bool] = lambda _: True) -> list[str]:
        """The wallets with a current backup (that ``where`` holds for)."""
        return [w for w in WALLETS if (b := self.wallets[w].current) is not None and where(b)]

    def _room_for_a_token(self) -> list[str]:
        return self._backed_up(lambda b: len(b.stanzas) < MAX_STANZAS)

    @precondition(lambda self: self._room_for_a_token())
    @rule(w=picks, token=st.sampled_from(TOKENS), i=picks)
    def add_token(self, w: int, token: str, i: int) -> None:
        wallet = pick(self._room_for_a_token(), w)
        current = self.wallets[wallet].current
        assert current is not None
        stanzas = (*current.stanzas, (TOKEN, token))
        self._method_change(self.wb.add_backup_method, wallet, TOKEN, i, stanzas, token=token)

    @precondition(lambda self: self._backed_up())
    @rule(w=picks, passphrase=st.sampled_from(PASSPHRASES), i=picks)
    def change_passphrase(self, w: int, passphrase: str, i: int) -> None:
        """add_backup_method of the single-stanza method: a passphrase change."""
        wallet = pick(self._backed_up(), w)
        current = self.wallets[wallet].current
        assert current is not None
        stanzas = (*current.without(PASS), (PASS, passphrase))
        self._method_change(
            self.wb.add_backup_method, wallet, PASS, i, stanzas, passphrase=passphrase
        )

    def _two_methods(self) -> list[str]:
        return self._backed_up(lambda b: len({m for m, _ in b.stanzas}) > 1)

    @precondition(lambda self: self._two_methods())
    @rule(w=picks, method=st.sampled_from((PASS, TOKEN)), i=picks)
    def remove_method(self, w: int, method: str, i: int) -> None:
        wallet = pick(self._two_methods(), w)
        current = self.wallets[wallet].current
        assert current is not None
        self._method_change(
            self.wb.remove_backup_method, wallet, method, i, current.without(method)
        )

    @precondition(lambda self: any(self.wallets[w].pending for w in WALLETS))
    @rule(w=picks, success=st.booleans())
    def confirm(self, w: int, success: bool) -> None:
        """Self-managed: the application stored the cipher text (or could not)."""
        wallet = pick([w for w in WALLETS if self.wallets[w].pending], w)
        model = self.wallets[wallet]
        pending = model.pending
        assert pending is not None
        abandons = self._shows_pending(wallet, pending)
        try:
            self.wb.stored_client_backup_share(wallet, pending.reason, success=success)
        except WalletBackupError:
            assert not model.honest, "the device refused a confirmation nobody tampered with"
            return
        if success:
            if model.current is not None:
                model.retired.append(model.current)
            model.current = pending
            model.shown_current.clear()
        else:
            model.retired.append(pending)
            if abandons:
                model.shown_current.discard(pending.cipher_text)
        model.pending = None
        self._left(wallet)

    # --- reading -------------------------------------------------------------------------------

    def _recover(
        self, device: WalletBackup, wallet: str, backup: Backup, secret: Secret
    ) -> Shares | None:
        options = unlock_options(secret)
        method = options.pop("method")
        try:
            got = device.recover_wallet(wallet, method=method, **self._app_copy(backup), **options)
        except WalletBackupError:
            return None
        return got.client_share, got.custodian_share

    def _recovers(self, device: WalletBackup, wallet: str, backup: Backup, secret: Secret) -> None:
        model = self.wallets[wallet]
        got = self._recover(device, wallet, backup, secret)
        if got is None:
            assert not model.honest, f"the device refused to recover {wallet}, never tampered"
            return
        assert got == backup.shares, f"recovered shares of {wallet} that are not the newest"
        self._read(wallet)

    def _read(self, wallet: str) -> None:
        """A read returned normally: on a tampered store the device may have learnt from it."""
        model = self.wallets[wallet]
        if model.honest:
            self._left(wallet)
        model.tainted |= model.tampered

    @invariant()
    def recovers_only_the_newest_shares(self) -> None:
        for wallet, model in self.wallets.items():
            for backup in (model.current, model.pending):
                if backup is not None:
                    self._recovers(self.wb, wallet, backup, min(backup.secrets))

    @invariant()
    def the_store_holds_nothing_wrapped_to_the_adversary(self) -> None:
        for wallet in WALLETS:
            document = self.store.load(wallet)
            if document is None:
                continue
            for revision in adv.REVISIONS:
                data = adv.get_envelope(adv.decode_document(document), revision=revision)
                if data is not None and data not in self.planted:
                    self._not_to_the_adversary(data)

    def _not_to_the_adversary(self, data: bytes) -> None:
        for key in self.keys:
            assert adv.opens(data, key) is None, "the adversary opened an envelope of the device's"
            assert not adv.wraps_to(data, key.public), "the device wrapped a key to the adversary"

    @precondition(lambda self: self._backed_up())
    @rule(w=picks, i=picks, fresh=st.booleans())
    def verify(self, w: int, i: int, fresh: bool) -> None:
        """verify_backup with any of the current secrets; a fresh device too."""
        wallet = pick(self._backed_up(), w)
        model = self.wallets[wallet]
        backup = model.current
        assert backup is not None
        if fresh and not model.honest:
            return  # a new device with the whole store rolled back is the documented gap
        device = WalletBackup(store=self.store, kms=self.kms, mode=self.mode) if fresh else self.wb
        options = unlock_options(pick(backup.secrets, i))
        method = options.pop("method")
        try:
            device.verify_backup(wallet, method=method, **self._app_copy(backup), **options)
        except WalletBackupError:
            assert not model.honest, f"verify_backup refused {wallet}, never tampered"
            return
        self._read(wallet)

    @precondition(lambda self: any(self.wallets[w].retired for w in WALLETS))
    @rule(w=picks, i=picks, j=picks, fresh=st.booleans())
    def an_earlier_cipher_text_is_refused(self, w: int, i: int, j: int, fresh: bool) -> None:
        """A cipher text of a replaced revision, with a secret that opened it, recovers nothing:
        not on this device, nor (where the store is untouched) on a fresh one."""
        wallet = pick([w for w in WALLETS if self.wallets[w].retired], w)
        model = self.wallets[wallet]
        old = model.retired[i % len(model.retired)]
        if old.cipher_text in model.shown_current:
            return  # the device may take it as confirmed: see Wallet.shown_current
        device = self.wb
        if fresh and model.honest:
            device = WalletBackup(store=self.store, kms=self.kms, mode=self.mode)
        options = unlock_options(pick(old.secrets, j))
        method = options.pop("method")
        with pytest.raises(WalletBackupError):
            device.recover_wallet(wallet, method=method, cipher_text=old.cipher_text, **options)

    def _removed(self, wallet: str) -> set[Secret]:
        """Secrets the wallet once had that no live revision has (while one is live)."""
        model = self.wallets[wallet]
        live = [b for b in (model.current, model.pending) if b is not None]
        return model.ever - {s for b in live for s in b.secrets} if live else set()

    @precondition(lambda self: any(self._removed(w) for w in WALLETS))
    @rule(w=picks, i=picks)
    def a_removed_secret_opens_nothing(self, w: int, i: int) -> None:
        """A secret that no live revision has opens nothing the device will recover, whatever
        the store holds (a rollback would bring it back)."""
        wallet = pick([w for w in WALLETS if self._removed(w)], w)
        model = self.wallets[wallet]
        backup = model.current or model.pending
        assert backup is not None  # _removed is empty without one
        assert self._recover(self.wb, wallet, backup, pick(self._removed(wallet), i)) is None

    # --- the adversary -------------------------------------------------------------------------

    def _write(self, wallet: str, document: adv.Document) -> None:
        adv.save(self.store, wallet, document)
        self.wallets[wallet].tampered = True

    def _current_document(self, wallet: str) -> adv.Document | None:
        data = self.store.load(wallet)
        return None if data is None else adv.decode_document(data)

    @precondition(lambda self: any(self.wallets[w].documents for w in WALLETS))
    @rule(w=picks, i=picks)
    def replay_document(self, w: int, i: int) -> None:
        wallet = pick([w for w in WALLETS if self.wallets[w].documents], w)
        documents = self.wallets[wallet].documents
        adv.replay(self.store, wallet, documents[i % len(documents)])
        self.wallets[wallet].tampered = True

    @rule(source=st.sampled_from((*WALLETS, MALLORY)), into=wallets)
    def swap_documents(self, source: str, into: str) -> None:
        if source != into and self.store.load(source) is not None:
            adv.copy_document(self.store, source, into)
            self.wallets[into].tampered = True

    @rule(
        source=st.sampled_from((*WALLETS, MALLORY)),
        into=wallets,
        name=st.sampled_from(adv.ENVELOPE_FIELDS),
    )
    def swap_envelope(self, source: str, into: str, name: str) -> None:
        theirs, ours = self._current_document(source), self._current_document(into)
        if theirs is None or ours is None or ours.get(adv.CURRENT) is None:
            return
        data = adv.get_envelope(theirs, name)
        if data is not None and source != into:
            adv.set_envelope(ours, data, name)
            self._write(into, ours)

    @precondition(lambda self: any(self.wallets[w].documents for w in WALLETS))
    @rule(w=picks, i=picks, name=st.sampled_from(adv.ENVELOPE_FIELDS))
    def replay_envelope(self, w: int, i: int, name: str) -> None:
        wallet = pick([w for w in WALLETS if self.wallets[w].documents], w)
        documents = self.wallets[wallet].documents
        earlier = adv.decode_document(documents[i % len(documents)])
        ours = self._current_document(wallet)
        data = adv.get_envelope(earlier, name)
        if ours is not None and ours.get(adv.CURRENT) is not None and data is not None:
            adv.set_envelope(ours, data, name)
            self._write(wallet, ours)

    def _stored_client(self, wallet: str) -> tuple[adv.Document, bytes] | None:
        document = self._current_document(wallet)
        data = None if document is None else adv.get_envelope(document)
        return None if document is None or data is None else (document, data)

    def _plant(self, wallet: str, document: adv.Document, data: bytes) -> None:
        adv.set_envelope(document, data)
        adv.describe_client(document[adv.CURRENT], data)
        self.planted.add(data)
        self._write(wallet, document)

    @precondition(lambda self: not self.self_managed)
    @rule(wallet=wallets, resealed=st.booleans())
    def add_recipient(self, wallet: str, resealed: bool) -> None:
        """Attack 3: a quicktoken stanza of hers in the stored client envelope."""
        found = self._stored_client(wallet)
        if found is None:
            return
        document, data = found
        if adv.stanza_count(data) > MAX_STANZAS:
            return
        stanza_id = len(self.keys).to_bytes(16, "big")
        key = adv.attacker_key(QuickToken(token="mallory's token"), wallet, stanza_id)
        self.keys.append(key)
        planted = (
            adv.reseal_with_recipient(data, key, b"a share mallory chose")
            if resealed
            else adv.add_recipient_in_place(data, key)
        )
        self._plant(wallet, document, planted)

    @precondition(lambda self: not self.self_managed)
    @rule(wallet=wallets, i=picks, drop=st.booleans())
    def drop_or_reorder_stanzas(self, wallet: str, i: int, drop: bool) -> None:
        found = self._stored_client(wallet)
        if found is None or adv.stanza_count(found[1]) < 2:
            return
        document, data = found
        edited = (
            adv.drop_stanza(data, i % adv.stanza_count(data)) if drop else adv.reorder_stanzas(data)
        )
        self._plant(wallet, document, edited)

    @precondition(lambda self: not self.self_managed)
    @rule(wallet=wallets)
    def plant_own_backup(self, wallet: str) -> None:
        """Attack 2: her revision, sealed to the victim's recipients, under the victim's id."""
        if self._stored_client(wallet) is None:
            return
        planted = adv.plant_own_backup(
            self.store,
            victim=wallet,
            attacker_wallet=MALLORY,
            attacker_client_share=self.mallory_share,
        )
        self.planted.add(planted)
        self.wallets[wallet].tampered = True

    @rule(w=picks, i=picks)
    def promote_a_pending_revision(self, w: int, i: int) -> None:
        # In the order they were written: sorting the bytes would order them by their random
        # ids, so one seed would pick different documents (and steps) from run to run.
        documents = [
            document
            for wallet in WALLETS
            for document in self.wallets[wallet].documents
            if adv.decode_document(document).get(adv.PENDING) is not None
        ]
        if not documents:
            return
        document = adv.decode_document(documents[i % len(documents)])
        model = self.wallets[document["wallet_id"]]
        if model.pending is not None and holds_pending(document, model.pending):
            model.shown_current.add(model.pending.cipher_text)
        adv.promote_pending(document)
        self._write(document["wallet_id"], document)

    @precondition(lambda self: any(self.wallets[w].tampered for w in WALLETS))
    @rule(w=picks)
    def restore(self, w: int) -> None:
        """Put back the document the device last left: the store is as it should be again."""
        wallet = pick([w for w in WALLETS if self.wallets[w].tampered], w)
        model = self.wallets[wallet]
        if model.good is None:
            self.store.delete(wallet)
        else:
            adv.replay(self.store, wallet, model.good)
        model.tampered = False


class SelfManagedMachine(AdversaryMachine):
    mode = "self-managed"


@pytest.mark.parametrize("machine", [AdversaryMachine, SelfManagedMachine])
def test_the_device_holds_against_a_store_writer(machine: type[AdversaryMachine]) -> None:
    run_state_machine_as_test(machine, settings=SETTINGS)


def test_an_example_takes_the_same_path_when_replayed() -> None:
    """Hypothesis replays an example to shrink it: the rules must see the same model each time,
    whatever ids, keys and times the system under test draws anew."""

    def path() -> list[str]:
        seen: list[str] = []

        class Recorded(SelfManagedMachine):
            @invariant()
            def what_the_rules_read(self) -> None:
                seen.append(repr([_shape(self, wallet) for wallet in WALLETS]))

        run_state_machine_as_test(
            Recorded, settings=settings(SETTINGS, max_examples=30, derandomize=True)
        )
        return seen

    assert path() == path()


def _shape(machine: AdversaryMachine, wallet: str) -> tuple[object, ...]:
    """What the rules' preconditions and picks read of one wallet (no random bytes)."""
    model = machine.wallets[wallet]
    return (
        None if model.current is None else model.current.stanzas,
        None if model.pending is None else model.pending.stanzas,
        len(model.retired),
        len(model.documents),
        model.tampered,
        model.tainted,
        sorted(machine._removed(wallet)),
        len(model.shown_current),
    )
