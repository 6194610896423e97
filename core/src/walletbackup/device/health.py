"""The device's half of a health check: is each method's remote key material still there, and
is a verification due?

Only the device can ask a method (it holds the sign-ins), so the custodian's check
(:meth:`walletbackup.Custodian.check`) is completed here. The stanza args come from the client
envelope the custodian keeps (managed mode), else from what this device remembers of the current
revision (self-managed mode); neither is authenticated without a secret, so a check reports
disappearance, not forgery (``verify_backup`` authenticates).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from walletbackup import envelope, plugins
from walletbackup.errors import MethodUnavailable, WalletBackupError
from walletbackup.health import CustodianCheck, MethodHealth, Problem, WalletHealth, is_due
from walletbackup.methods import BackupMethod, MethodContext
from walletbackup.protocol import RevisionView
from walletbackup.state import StanzaRef

from .memory import WalletMemory

#: A stanza's args and the context to ask its method with.
Material = tuple[Mapping[str, Any], MethodContext]


@dataclass(frozen=True)
class Answer:
    """What asking about one stanza's material gave: present, why not known, a problem."""

    present: bool | None = None
    detail: str = ""
    problem: Problem | None = None


class Probes:
    """The methods a check asks about remote material: made once per check, then reused."""

    def __init__(
        self,
        make: Callable[[str, Mapping[str, Any]], BackupMethod],
        options: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self._make = make
        self._options = options
        #: per method name: an instance that can be asked, or why it cannot
        self._made: dict[str, BackupMethod | str] = {}

    def wants(self, name: str) -> bool:
        """Whether the method offers a presence check (only then are its args looked up)."""
        try:
            kind = plugins.get_method(name)
        except MethodUnavailable:
            return False
        return kind.check_presence is not BackupMethod.check_presence

    def ask(self, ref: StanzaRef, material: Material | None) -> Answer:
        """Whether the stanza's material is there (or why that is not known)."""
        method = self._method(ref.method)
        if isinstance(method, str):
            return Answer(detail=method)
        if material is None:
            return Answer(detail="this device does not hold the stanza's args (self-managed mode)")
        return _asked(method, ref, *material)

    def _method(self, name: str) -> BackupMethod | str:
        if name not in self._made:
            self._made[name] = self._made_now(name)
        return self._made[name]

    def _made_now(self, name: str) -> BackupMethod | str:
        try:
            kind = plugins.get_method(name)
        except MethodUnavailable as exc:
            return str(exc)
        if kind.check_presence is BackupMethod.check_presence:
            return ""  # it keeps nothing remote, or cannot tell
        method = self._make(name, self._options.get(name, {}))
        availability = method.availability()
        return method if availability.available else str(availability)


def assess(
    checked: CustodianCheck,
    *,
    probes: Probes | None,
    memory: Callable[[], WalletMemory],
    every: timedelta | None,
    now: datetime,
) -> WalletHealth:
    """The whole health of one wallet: the custodian's problems, then presence and due."""
    view = checked.view
    if view is None:
        return WalletHealth(checked.wallet_id, None, None, (), checked.problems)
    held = view.current or view.pending
    problems = list(checked.problems)
    methods = []
    if held is not None:
        wanted = probes is not None and any(probes.wants(ref.method) for ref in held.stanzas)
        found = _material(view.wallet_id, held, memory) if wanted else {}
        statuses = {s.stanza_id: s for s in view.statuses}
        for ref in sorted(held.stanzas, key=lambda r: (r.method, r.id)):
            answer = probes.ask(ref, found.get(ref.id)) if probes is not None else Answer()
            if answer.problem is not None:
                problems.append(answer.problem)
            status = statuses.get(ref.id)
            methods.append(
                MethodHealth(
                    ref.method,
                    ref.id,
                    status.status if status else "unknown",
                    answer.present,
                    status.verified_at if status else None,
                    status is not None and is_due(status, every, now),
                    answer.detail,
                )
            )
    current = view.current.revision if view.current else 0
    return WalletHealth(view.wallet_id, view.mode, current, tuple(methods), tuple(problems))


def _material(
    wallet_id: str, held: RevisionView, memory: Callable[[], WalletMemory]
) -> dict[str, Material]:
    """Each stanza's args: from the client envelope the custodian keeps, else from what this
    device remembers of that very revision."""
    if held.client_envelope is not None:
        try:
            env = envelope.parse(held.client_envelope)
        except WalletBackupError:
            return {}  # the custodian's half reports it
        return {
            s.id.hex(): (
                s.args,
                MethodContext(
                    wallet_id,
                    env.context.backup_set_id.hex(),
                    env.envelope_id.hex(),
                    s.id.hex(),
                ),
            )
            for s in env.stanzas
        }
    known = memory()
    if not known.vouches_for(held.revision, {ref.id for ref in held.stanzas}):
        return {}
    return {i.context["stanza_id"]: (i.args, MethodContext(**i.context)) for i in known.stanzas}


def _asked(
    method: BackupMethod, ref: StanzaRef, args: Mapping[str, Any], context: MethodContext
) -> Answer:
    try:
        type(method).validate_args(args)
        present = method.check_presence(args, context)
    except MethodUnavailable as exc:
        return Answer(detail=str(exc))
    except WalletBackupError as exc:
        return Answer(problem=_problem(ref, "presence", f"could not ask {ref.method}: {exc}"))
    except Exception as exc:  # a plugin's bug: its message may hold anything, so only the type
        return Answer(
            problem=_problem(ref, "presence", f"{ref.method} failed: {type(exc).__name__}")
        )
    if present is False:
        gone = (
            f"the {ref.method} key material of stanza {ref.id[:8]} is gone; recover with another "
            f"method (verify with {ref.method} to see why), then add {ref.method} again"
        )
        return Answer(False, problem=_problem(ref, "material", gone))
    return Answer(present)


def _problem(ref: StanzaRef, kind: str, message: str) -> Problem:
    return Problem(kind, message, ref.method, ref.id)
