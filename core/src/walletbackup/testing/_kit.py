"""What the conformance kits share: checks collected only when they apply, and secret hunting."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any


def collect_opt_ins(cls: type, kit: type, opt_in: Mapping[str, str]) -> None:
    """On ``cls``, a subclass of ``kit``, keep each opt-in check only when its switch is on.

    ``opt_in`` maps a check's name to the class attribute that switches it on (anything but None
    or False). A check the subclass wrote itself is kept as it is.
    """
    for test, switch in opt_in.items():
        if test in vars(cls):
            continue
        enabled = getattr(cls, switch) not in (None, False)
        # pytest collects only callables, so None removes a check that does not apply: it is
        # not collected at all, rather than skipped.
        setattr(cls, test, getattr(kit, test) if enabled else None)


def require_overrides(cls: type, kit: type, switch: str, hooks: tuple[str, ...]) -> None:
    """Refuse ``cls`` when its ``switch`` is on but it keeps ``kit``'s version of a hook."""
    if getattr(cls, switch) in (None, False):
        return
    for hook in hooks:
        if getattr(cls, hook) is getattr(kit, hook):
            raise TypeError(f"{cls.__name__} sets {switch}: override {hook}()")


def json_safety_problems(value: Any, where: str = "args") -> list[str]:
    """Where ``value`` is not a :data:`~walletbackup.methods.JsonValue` (str, int, lists, dicts)."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return []
    if isinstance(value, list):
        return [
            p for i, item in enumerate(value) for p in json_safety_problems(item, f"{where}[{i}]")
        ]
    if isinstance(value, Mapping):
        problems = [
            f"{where}: key {key!r} is not a str" for key in value if not isinstance(key, str)
        ]
        for key, item in value.items():
            problems += json_safety_problems(item, f"{where}[{key!r}]")
        return problems
    return [f"{where} is a {type(value).__name__}"]


def secret_forms(secret: bytes | str) -> list[str]:
    """The ways a secret could show up in text: itself, hex, base64, a bytes repr."""
    if isinstance(secret, str):
        return [secret] if secret else []
    b64 = base64.b64encode(secret).decode()
    url = base64.urlsafe_b64encode(secret).decode()
    return [
        secret.hex(),
        secret.hex().upper(),
        b64,
        b64.rstrip("="),
        url.rstrip("="),
        repr(secret)[2:-1],
    ]


__all__ = ["collect_opt_ins", "json_safety_problems", "require_overrides", "secret_forms"]
