"""The contract between the core and a backup method.

A backup method supplies a 32-byte *method secret* and the public arguments needed to get the same
secret again. It never wraps or encrypts anything itself: the core does all of that, so a method
cannot get the cryptography wrong. See docs/plugins.md for a worked example.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import MalformedBackup

SECRET_SIZE = 32

#: JSON-safe values a method may put in its stanza args: str, int, and lists / dicts of them.
#: (No floats, bools or null: the envelope header is canonical JSON without them.)
JsonValue = str | int | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True)
class MethodContext:
    """Where a method secret is used; enough for a method to name remote files uniquely.

    Identifiers are lowercase hex. ``stanza_id`` is the stanza being enrolled or opened.
    """

    wallet_id: str
    backup_set_id: str
    envelope_id: str
    stanza_id: str


@dataclass(frozen=True)
class Enrollment:
    """What :meth:`BackupMethod.enroll` returns: the secret and the public args to find it again."""

    secret: bytes = field(repr=False)
    args: Mapping[str, JsonValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != SECRET_SIZE:
            raise TypeError(f"Enrollment.secret must be exactly {SECRET_SIZE} bytes")


@dataclass(frozen=True)
class Option:
    """One option a method takes, declared so front ends can prompt for it generically.

    ``secret`` options are read without echo and never logged; ``confirm`` asks twice (new
    passwords); ``required`` options must be given to enroll (``for_unlock``: also to unlock).
    ``python_only`` options take objects only Python code can pass (a signed-in service, a
    device, a callable): front ends neither list, prompt for, nor accept them.
    """

    name: str
    help: str
    secret: bool = False
    confirm: bool = False
    required: bool = False
    for_unlock: bool = True
    python_only: bool = False


@dataclass(frozen=True)
class Availability:
    """Whether a method can be used on this machine now and, if not, why and what to do."""

    available: bool
    reason: str = ""
    remedy: str = ""

    def __str__(self) -> str:
        if self.available:
            return "available"
        return f"unavailable: {self.reason}" + (f" ({self.remedy})" if self.remedy else "")


class BackupMethod(ABC):
    """Base class of every backup method.

    Subclasses set :attr:`name` and :attr:`options`, accept their options as keyword arguments
    in ``__init__``, and implement :meth:`enroll` and :meth:`unlock`.
    """

    #: The method's registered name, as users type it: ``[a-z][a-z0-9_-]{0,31}``.
    name: ClassVar[str]
    #: The options this method takes.
    options: ClassVar[tuple[Option, ...]] = ()
    #: Whether one wallet may hold several stanzas of this method (several passkeys). When False,
    #: a new enrollment replaces the wallet's existing stanza of this method.
    multiple: ClassVar[bool] = False
    #: Whether the method talks to the person itself while it runs (a PIN prompt, "touch your
    #: key"). Front ends then show no animated progress that could overwrite its prompts.
    interactive: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        known = {option.name for option in self.options}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"{self.name}: unknown option(s): {', '.join(unknown)}")
        self._options = options

    def __repr__(self) -> str:
        # Never show option values: some are secrets.
        return f"<{type(self).__name__} method={self.name!r}>"

    def option(self, name: str, default: Any = None) -> Any:
        """The value of an option given to ``__init__`` (``default`` when not given)."""
        return self._options.get(name, default)

    @abstractmethod
    def enroll(self, context: MethodContext) -> Enrollment:
        """Create *new* key material; return its secret and args. Never overwrite old material."""

    @abstractmethod
    def unlock(self, args: Mapping[str, Any], context: MethodContext) -> bytes:
        """Return the 32-byte secret that :meth:`enroll` returned for these args."""

    def discard(self, args: Mapping[str, Any], context: MethodContext) -> None:  # noqa: B027
        """Delete remote key material for these args. Called only after a newer backup is stored."""

    def availability(self) -> Availability:
        """Whether this method can run here; the default says it can."""
        return Availability(True)

    def check_presence(self, args: Mapping[str, Any], context: MethodContext) -> bool | None:
        """Whether the remote key material for these args is still there, cheaply and without
        reading it (a metadata request): ``True``, ``False`` (gone), or ``None``: cannot tell.

        An optional hook for health checks (``walletbackup check``); the default, for methods
        that keep nothing remote or offer no such check, is ``None``. Called only after
        :meth:`validate_args` accepted the args, and only when :meth:`availability` says the
        method can run here. Raise a walletbackup error when the service cannot answer
        (:class:`~walletbackup.errors.MethodUnavailable` when it needs a sign-in): never
        ``False`` for "could not ask". The args come from the envelope's public header, which
        nothing authenticates without a secret.
        """
        return None

    @classmethod  # noqa: B027 - an optional hook: the default accepts anything
    def validate_args(cls, args: Mapping[str, Any]) -> None:
        """Check stanza args before anything costly runs; raise :class:`MalformedBackup`.

        Called by the core before :meth:`unlock`, so a hostile envelope cannot make a method run
        an expensive KDF or reach a remote service with nonsense. Well-formed args that ask for
        more than this device allows (Argon2 costs above :class:`~walletbackup.kdf.Ceiling`)
        raise :class:`~walletbackup.errors.PolicyViolation` instead. The default accepts anything.
        """

    def rewrap_advice(self, args: Mapping[str, Any]) -> str | None:
        """A reason to re-wrap a backup opened with these args (e.g. costs below today's policy)."""
        return None


def check_arg_names(args: object, allowed: Collection[str], *, method: str = "") -> None:
    """Raise :class:`MalformedBackup` unless ``args`` is a mapping with none but ``allowed`` keys.

    ``method`` names the method in the message (``unknown password stanza argument(s): 'x'``).
    """
    label = f"{method} stanza argument".lstrip()
    if not isinstance(args, Mapping):
        raise MalformedBackup(f"{label}s must be an object")
    # repr, cut short: a hostile key is shown, never a whole one of any size.
    unknown = sorted(repr(key)[:40] for key in set(args) - set(allowed))
    if unknown:
        raise MalformedBackup(f"unknown {label}(s): {', '.join(unknown)}")


def require(
    args: Mapping[str, Any],
    key: str,
    kind: type,
    *,
    method: str = "",
    choices: Collection[object] = (),
    pattern: re.Pattern[str] | None = None,
    check: Callable[[Any], bool] | None = None,
    what: str = "",
) -> Any:
    """``args[key]`` when it is a ``kind`` (a bool is never an int) and passes the checks given.

    The checks: one of ``choices``; for a str, ``pattern`` matches it whole; ``check(value)`` is
    true. Anything else raises :class:`MalformedBackup` naming the key (and ``method``, when
    given): "is missing", or "must be" ``what`` (default: the choices, else the type).
    """
    label = f"{method} stanza argument {key!r}".lstrip()
    if key not in args:
        raise MalformedBackup(f"{label} is missing")
    value = args[key]
    if (
        not isinstance(value, kind)
        or (isinstance(value, bool) and kind is not bool)
        # any(==), not "in": an unhashable value must fail the check, not raise TypeError.
        or (choices and not any(value == choice for choice in choices))
        or (pattern is not None and not (isinstance(value, str) and pattern.fullmatch(value)))
        or (check is not None and not check(value))
    ):
        article = "an" if kind.__name__[0] in "aeiou" else "a"
        expected = what or " or ".join(map(repr, choices)) or f"{article} {kind.__name__}"
        raise MalformedBackup(f"{label} must be {expected}")
    return value


def require_bytes(
    args: Mapping[str, Any], key: str, length: int | range, *, method: str = ""
) -> bytes:
    """``args[key]`` decoded from unpadded base64url, of ``length`` bytes (exactly, or a range).

    The size is checked before anything is decoded; anything else raises :class:`MalformedBackup`
    naming the key, as :func:`require` does.
    """
    # Imported here: plugin discovery loads this module, and most commands decode nothing.
    from .canonical import b64decode, size_text  # noqa: PLC0415

    sizes = range(length, length + 1) if isinstance(length, int) else length
    what = f"unpadded base64url of {size_text(sizes)} bytes"
    value = require(args, key, str, method=method, what=what)
    try:
        return b64decode(value, sizes)
    except MalformedBackup:
        raise MalformedBackup(f"{method} stanza argument {key!r} must be {what}".lstrip()) from None


__all__ = [
    "SECRET_SIZE",
    "Availability",
    "BackupMethod",
    "Enrollment",
    "JsonValue",
    "MethodContext",
    "Option",
    "check_arg_names",
    "require",
    "require_bytes",
]
