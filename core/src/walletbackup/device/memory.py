"""What a device remembers between operations, kept on the device and nowhere else.

Per custodian location and wallet: the newest revision the device has seen current (its *pin*),
the remote key material each of its own revisions will make obsolete or orphan (*plans*), the
deletions that failed and wait for a retry (*queue*), and why its last failed change failed.
None of it may live in the store: a store writer could lower a pin to hide a rollback, or queue
the deletion of a live key.

With a path, the memory is a JSON file (0600) changed under an exclusive lock, so processes of
one device share it; without one it lasts as long as the object.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from walletbackup.errors import StorageError
from walletbackup.files import exclusive, write_private

FORMAT = 1
DEFAULT_FILE_NAME = "device.json"


@dataclass(frozen=True)
class DiscardItem:
    """Remote key material to delete once no backup the device trusts still needs it."""

    method: str
    args: dict[str, Any]
    context: dict[str, str]
    attempts: int = 0
    last_error: str = ""


@dataclass
class Plan:
    """One revision the device wrote: its stanzas' material, and the material it makes obsolete
    (if it lands) or orphans (if it does not)."""

    stanzas: list[DiscardItem] = field(default_factory=list)
    on_success: list[DiscardItem] = field(default_factory=list)
    on_failure: list[DiscardItem] = field(default_factory=list)


@dataclass
class WalletMemory:
    """What the device knows of one wallet, first-hand."""

    #: the newest revision seen current, and its stanzas' material (authenticated or written here)
    pin: int = 0
    stanzas: list[DiscardItem] = field(default_factory=list)
    #: revisions from the pin up that never landed (abandoned, superseded, denied), the pin
    #: included when this device abandoned a revision it had been shown current: never accepted
    dead: list[int] = field(default_factory=list)
    plans: dict[int, Plan] = field(default_factory=dict)
    queue: list[DiscardItem] = field(default_factory=list)
    #: this device's last change that failed after it reached the custodian, and why, for the
    #: custodian's record when it could not take it at the time (a full disk)
    failed_revision: int = 0
    failed_because: str = ""

    def remember_failure(self, revision: int, because: str) -> None:
        self.failed_revision, self.failed_because = revision, because

    def forget_failure(self) -> None:
        self.remember_failure(0, "")

    def failure_of(self, revision: int) -> str:
        """Why ``revision`` failed, as this device saw it ("" when it knows of no failure)."""
        return self.failed_because if revision == self.failed_revision else ""

    def trust(self, revision: int, stanzas: list[DiscardItem]) -> None:
        """Remember ``revision`` as current with these stanzas, unless a newer one is known."""
        if revision >= self.pin:
            self.pin, self.stanzas = revision, list(stanzas)
            self.dead = [r for r in self.dead if r > revision]

    def handed_back(self, revision: int) -> bool:
        """Whether ``revision`` can be what an application's answer about "the pending backup"
        refers to: the newest this device proposed and has not settled (any, if none is open),
        and not one it already holds abandoned."""
        return revision not in self.dead and (not self.plans or revision == max(self.plans))

    def vouches_for(self, revision: int, stanza_ids: set[str]) -> bool:
        """Whether this is the current revision as the device last saw it, stanzas and all."""
        return revision == self.pin and stanza_ids == {s.context["stanza_id"] for s in self.stanzas}


def default_path() -> Path:
    import platformdirs  # noqa: PLC0415 - only for the default path

    return Path(platformdirs.user_data_dir("walletbackup", appauthor=False)) / DEFAULT_FILE_NAME


class DeviceMemory:
    """The device's memory of wallets, by custodian location (``None``: this object only)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._volatile: dict[str, WalletMemory] = {}

    def __repr__(self) -> str:
        return f"<DeviceMemory {str(self.path) if self.path else 'in memory'}>"

    def read(self, location: str | None, wallet_id: str) -> WalletMemory:
        """A copy of the wallet's memory (changes to it are not kept: use :meth:`edit`)."""
        if location is None or self.path is None:
            return copy.deepcopy(self._volatile.get(f"{location}\x00{wallet_id}", WalletMemory()))
        with _locked(self.path):
            return _memory(_load(self.path)["locations"].get(location, {}).get(wallet_id, {}))

    @contextmanager
    def edit(self, location: str | None, wallet_id: str) -> Iterator[WalletMemory]:
        """The wallet's memory, written back when the block ends without an error."""
        if location is None or self.path is None:
            yield self._volatile.setdefault(f"{location}\x00{wallet_id}", WalletMemory())
            return
        with _locked(self.path):
            document = _load(self.path)
            wallets = document["locations"].setdefault(location, {})
            memory = _memory(wallets.get(wallet_id, {}))
            yield memory
            wallets[wallet_id] = asdict(memory)
            _save(self.path, document)

    def forget(self, location: str | None, wallet_id: str) -> None:
        """Forget the wallet: its pin, its material, its plans and its queued deletions."""
        if location is None or self.path is None:
            self._volatile.pop(f"{location}\x00{wallet_id}", None)
            return
        with _locked(self.path):
            document = _load(self.path)
            if document["locations"].get(location, {}).pop(wallet_id, None) is not None:
                _save(self.path, document)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with ExitStack() as stack:
        try:
            stack.enter_context(exclusive(path))
        except OSError as exc:
            raise StorageError(f"cannot use the device memory {path}: {exc.strerror}") from None
        yield


def _save(path: Path, document: dict[str, Any]) -> None:
    try:
        write_private(path, json.dumps(document, sort_keys=True).encode())
    except OSError as exc:
        raise StorageError(f"cannot write the device memory {path}: {exc}") from None


def _load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {"format": FORMAT, "locations": {}}
    except (OSError, ValueError) as exc:
        raise StorageError(
            f"the device memory {path} cannot be read ({type(exc).__name__}); move it aside to "
            "start afresh (this device then forgets which revisions it has seen)"
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StorageError(f"the device memory {path} has an unknown format")
    return document


def _memory(body: dict[str, Any]) -> WalletMemory:
    try:
        return WalletMemory(
            pin=int(body.get("pin", 0)),
            stanzas=[DiscardItem(**item) for item in body.get("stanzas", [])],
            dead=[int(revision) for revision in body.get("dead", [])],
            plans={
                int(revision): Plan(
                    [DiscardItem(**item) for item in plan["stanzas"]],
                    [DiscardItem(**item) for item in plan["on_success"]],
                    [DiscardItem(**item) for item in plan["on_failure"]],
                )
                for revision, plan in body.get("plans", {}).items()
            },
            queue=[DiscardItem(**item) for item in body.get("queue", [])],
            failed_revision=int(body.get("failed_revision", 0)),
            failed_because=str(body.get("failed_because", "")),
        )
    except (TypeError, KeyError, ValueError):
        raise StorageError("the device memory holds a malformed wallet entry") from None
