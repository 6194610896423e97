"""A method's options on the command line: prompted from what it declares, or read for automation.

Sources, later ones filling in only what earlier ones left out:

1. ``--options-file PATH`` or ``--options-stdin``: a JSON object of option values. For commands
   that unlock with another method (``add-method``, ``remove-method``), the key ``unlock_with``
   holds an object of the unlocking method's options.
2. ``--option NAME=VALUE`` (and ``--unlock-option``): non-secret options only. ``true`` /
   ``false`` and JSON numbers become booleans and numbers; any other text is a string (quote it
   as JSON, ``NAME='"123"'``, to keep digits a string).
3. Prompts, for required options still missing: secrets without echo, ``confirm`` options twice
   when enrolling. Options read from standard input turn prompting off (stdin is used up), so a
   missing required option is then a usage error; so is one with no terminal to ask on
   (:mod:`.prompts`).

A secret never comes from a command-line argument. An options file that holds a secret must not
be readable by group or others (like an SSH key): it is refused otherwise.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

from walletbackup import files
from walletbackup.errors import PolicyViolation

from .prompts import ask

if TYPE_CHECKING:
    from walletbackup.methods import BackupMethod, Option

#: Why options are wanted: which ones are prompted, and whether new secrets are confirmed.
Purpose = Literal["enroll", "unlock", "discard", "none"]

UNLOCK_KEY = "unlock_with"
UNLOCK_FLAG = "--unlock-option"
MAX_OPTIONS_BYTES = 1024 * 1024

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class OptionInput:
    """Where a command's method options come from (as given on its command line)."""

    assignments: tuple[str, ...] = ()
    unlock_assignments: tuple[str, ...] = ()
    file: str | None = None
    stdin: bool = False


@dataclass
class _Document:
    values: dict[str, Any] = field(default_factory=dict)
    unlock: dict[str, Any] = field(default_factory=dict)
    origin: str = ""
    #: permission bits of a regular file that group or others may access
    loose_mode: int | None = None


def option_sources(*, unlock: bool = False) -> Callable[[F], F]:
    """Click options for the sources above; the command gets them as ``options: OptionInput``."""

    def decorate(command: F) -> F:
        decorators = [
            click.option(
                "--option",
                "assignments",
                multiple=True,
                metavar="NAME=VALUE",
                help="A non-secret option of the method (repeatable).",
            ),
            click.option(
                "--options-file",
                "options_file",
                metavar="PATH",
                help="Read options from a JSON object in PATH (mode 0600 if it holds secrets).",
            ),
            click.option(
                "--options-stdin",
                is_flag=True,
                help="Read options from a JSON object on standard input (no prompts).",
            ),
        ]
        if unlock:
            decorators.append(
                click.option(
                    UNLOCK_FLAG,
                    "unlock_assignments",
                    multiple=True,
                    metavar="NAME=VALUE",
                    help="A non-secret option of the unlocking method (repeatable).",
                )
            )
        wrapped: Any = _collect(command)
        for decorator in reversed(decorators):
            wrapped = decorator(wrapped)
        return wrapped  # type: ignore[no-any-return]

    return decorate


def _collect(command: F) -> F:
    # wraps() also copies __click_params__: the options declared below this decorator.
    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        kwargs["options"] = OptionInput(
            assignments=tuple(kwargs.pop("assignments")),
            unlock_assignments=tuple(kwargs.pop("unlock_assignments", ())),
            file=kwargs.pop("options_file"),
            stdin=kwargs.pop("options_stdin"),
        )
        return command(**kwargs)

    return wrapper  # type: ignore[return-value]


class MethodOptions:
    """Gathers the options of the method(s) one command uses, in prompt order."""

    def __init__(self, given: OptionInput, *, allow_unlock: bool = False) -> None:
        if given.file is not None and given.stdin:
            raise click.UsageError("use --options-file or --options-stdin, not both")
        self._given = given
        self._document = _read_document(given)
        if UNLOCK_KEY in self._document.values:
            unlock = self._document.values.pop(UNLOCK_KEY)
            if not allow_unlock:
                raise click.UsageError(
                    f"{self._document.origin}: {UNLOCK_KEY!r} is only for add-method and "
                    "remove-method"
                )
            if not isinstance(unlock, dict):
                raise click.UsageError(f"{self._document.origin}: {UNLOCK_KEY!r} must be an object")
            self._document.unlock = unlock

    @property
    def may_prompt(self) -> bool:
        return not self._given.stdin

    def for_method(
        self, method: type[BackupMethod], purpose: Purpose, *, label: str = ""
    ) -> dict[str, Any]:
        """The method's own options (from the file, ``--option`` and prompts)."""
        return self._gather(
            method,
            purpose=purpose,
            from_document=self._document.values,
            assignments=self._given.assignments,
            flag="--option",
            label=label,
        )

    def for_unlock(self, method: type[BackupMethod]) -> dict[str, Any]:
        """The unlocking method's options (``unlock_with`` in the file, ``--unlock-option``)."""
        return self._gather(
            method,
            purpose="unlock",
            from_document=self._document.unlock,
            assignments=self._given.unlock_assignments,
            flag=UNLOCK_FLAG,
            label=" (to unlock)",
        )

    def _gather(
        self,
        method: type[BackupMethod],
        *,
        purpose: Purpose,
        from_document: Mapping[str, Any],
        assignments: tuple[str, ...],
        flag: str,
        label: str,
    ) -> dict[str, Any]:
        declared = {option.name: option for option in method.options}
        where = f"{self._document.origin} ({method.name})"
        _check_names(from_document, declared, method.name, where)
        secrets_in_file = [name for name in from_document if declared[name].secret]
        if secrets_in_file and self._document.loose_mode is not None:
            raise PolicyViolation(
                f"{self._document.origin} holds secret option(s) "
                f"({', '.join(secrets_in_file)}) but its mode is "
                f"{self._document.loose_mode:04o}: others can access it; chmod 600 it first"
            )
        values = dict(from_document)
        for name, value in (_parse_assignment(text, flag) for text in assignments):
            _check_names({name: value}, declared, method.name, flag)
            if declared[name].secret:
                raise click.UsageError(
                    f"{method.name} option {name!r} is secret: it is never read from the command"
                    " line; it is prompted, or read from --options-file / --options-stdin"
                )
            if name in values:
                raise click.UsageError(f"{method.name} option {name!r} is given twice")
            values[name] = value
        for option in method.options:
            if option.name not in values and _wanted(option, purpose):
                values[option.name] = self._prompt(method.name, option, purpose, label, flag)
        _check_constructs(method, values)
        return values

    def _prompt(self, method: str, option: Option, purpose: Purpose, label: str, flag: str) -> str:
        if not self.may_prompt:
            raise click.UsageError(
                f"{method} option {option.name!r} ({option.help}) is required and was not "
                f"given on standard input"
            )
        return ask(
            f"{option.name}{label}",
            secret=option.secret,
            confirm=(
                f"{option.name}{label} (again)" if option.confirm and purpose == "enroll" else None
            ),
            unanswerable=_give_instead(method, option, flag),
        )


def _give_instead(method: str, option: Option, flag: str) -> str:
    """Where a required option can come from when there is no terminal to ask on."""
    where = f'under "{UNLOCK_KEY}" in ' if flag == UNLOCK_FLAG else "in "
    alternatives = f"{where}a JSON object with --options-file PATH or --options-stdin"
    if not option.secret:
        alternatives += f", or with {flag} {option.name}=VALUE"
    return (
        f"{method} option {option.name!r} ({option.help}) is required and there is no "
        f"terminal to ask for it on: give it {alternatives}"
    )


def _wanted(option: Option, purpose: Purpose) -> bool:
    """Whether a missing option is prompted for this purpose."""
    if purpose == "enroll":
        return option.required
    if purpose in ("unlock", "discard"):
        return option.required and option.for_unlock
    return False


def _check_names(
    values: Mapping[str, Any], declared: Mapping[str, Option], method: str, where: str
) -> None:
    python_only = sorted(name for name in values if name in declared and declared[name].python_only)
    if python_only:
        raise click.UsageError(
            f"{where}: {method} option(s) {', '.join(map(repr, python_only))} take a Python "
            "object and can only be given from the Python API"
        )
    unknown = sorted(set(values) - set(declared))
    if unknown:
        known = ", ".join(declared) or "none"
        raise click.UsageError(
            f"{where}: {method} has no option(s) {', '.join(map(repr, unknown))}; "
            f"its options: {known}"
        )


def _check_constructs(method: type[BackupMethod], values: dict[str, Any]) -> None:
    """Let the method check option types now, as a usage error rather than a traceback later."""
    try:
        method(**values)
    except (TypeError, ValueError) as exc:
        raise click.UsageError(f"{method.name}: {exc}") from None


def _parse_assignment(text: str, flag: str) -> tuple[str, Any]:
    name, equals, raw = text.partition("=")
    if not equals or not name:
        raise click.UsageError(f"{flag} takes NAME=VALUE, e.g. {flag} low_memory=true")
    return name.strip(), parse_value(raw)


def parse_value(raw: str) -> Any:
    """``true``/``false`` (any case) and JSON numbers, strings and containers; else the text."""
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except ValueError:
        return raw
    return raw if value is None else value


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not numbers anyone means to pass.
    raise ValueError(name)


def _read_document(given: OptionInput) -> _Document:
    if given.file is not None:
        origin = f"options file {given.file}"
        try:
            contents = files.read_limited(given.file, MAX_OPTIONS_BYTES)
        except files.FileTooLarge:
            raise click.UsageError(f"{origin}: larger than {MAX_OPTIONS_BYTES} bytes") from None
        except OSError as exc:
            raise click.UsageError(f"cannot read {origin}: {exc.strerror}") from None
        data, loose = contents.data, contents.loose_mode
    elif given.stdin:
        origin = "options on standard input"
        data = sys.stdin.buffer.read(MAX_OPTIONS_BYTES + 1)
        loose = None
        if len(data) > MAX_OPTIONS_BYTES:
            raise click.UsageError(f"{origin}: larger than {MAX_OPTIONS_BYTES} bytes")
    else:
        return _Document(origin="options")
    try:
        values = json.loads(data, parse_constant=_no_constant)
    except ValueError as exc:
        # Only the position: the text may hold a secret.
        where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "its text"
        raise click.UsageError(f"{origin}: not valid JSON ({where})") from None
    if not isinstance(values, dict):
        raise click.UsageError(f"{origin}: must be a JSON object of option values")
    return _Document(values=values, origin=origin, loose_mode=loose)
