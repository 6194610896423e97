"""``pkcs11:`` URLs (RFC 7512 style) and the PIN sources they name.

Form: ``pkcs11:token=LABEL;object=KEYLABEL?module-path=/path/to/module.so&pin-source=SOURCE``.
Path attributes (``;``-separated): ``token`` and ``object`` (required), ``serial`` (picks one
of several tokens with the same label) and ``type`` (only ``secret-key``). Query attributes
(``&``-separated): ``module-path`` (required) and ``pin-source`` (required): ``file:/abs/path``
(or ``file:///abs/path``; a file only its owner may read, holding the user PIN on its first
line) or ``env:VARNAME``. Values are percent-decoded, as RFC 7512 says.

``pin-value`` is refused: URLs end up in logs, shell histories, process lists and config
files, so the PIN itself never belongs in one. Unknown attributes are refused too, so a typo
(``modul-path``) is reported instead of silently ignored.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from walletbackup import files
from walletbackup.errors import PolicyViolation, StorageError

SCHEME = "pkcs11"
EXAMPLE = (
    "pkcs11:token=LABEL;object=KEYLABEL"
    "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/walletbackup/pin"
)
PATH_ATTRIBUTES = frozenset({"token", "object", "serial", "type"})
QUERY_ATTRIBUTES = frozenset({"module-path", "pin-source"})
#: Key versions are objects labelled ``KEYLABEL.vN``: a key label of that shape would collide
#: with another key's versions.
VERSION_SUFFIX = re.compile(r"\.v[0-9]+\Z")
#: A PIN file is a few bytes; this stops a wrong path (a device, a log) being read whole.
MAX_PIN_FILE = 4096


@dataclass(frozen=True)
class PinSource:
    """Where the user PIN is read from, each time the token is logged in to; never the PIN."""

    kind: str  # "file" or "env"
    where: str  # the file's absolute path, or the variable's name

    def __str__(self) -> str:
        return f"{self.kind}:{self.where}"

    def read(self) -> str:
        """The PIN, read now; errors name the source, never its content."""
        if self.kind == "env":
            pin = os.environ.get(self.where)
            if not pin:
                raise StorageError(
                    f"the PKCS#11 user PIN source {self} is not set: export {self.where} "
                    "with the token's user PIN before starting"
                )
            return pin
        return _read_pin_file(Path(self.where))


@dataclass(frozen=True)
class Pkcs11Url:
    """The parts of a ``pkcs11:`` URL."""

    token: str
    object: str
    module_path: str
    pin_source: PinSource
    serial: str | None = None


def parse(url: str) -> Pkcs11Url:
    """Parse a ``pkcs11:`` URL; :class:`StorageError` for a malformed one, naming the problem."""
    scheme, colon, rest = url.partition(":")
    if scheme.lower() != SCHEME or not colon:
        raise StorageError(f"{url!r} is not a PKCS#11 URL ({EXAMPLE})")
    path, _, query = rest.partition("?")
    attributes = _attributes(url, path, ";", PATH_ATTRIBUTES)
    options = _attributes(url, query, "&", QUERY_ATTRIBUTES)
    missing = [name for name in ("token", "object") if name not in attributes]
    missing += [name for name in ("module-path", "pin-source") if name not in options]
    if missing:
        raise StorageError(
            f"the PKCS#11 URL {url!r} lacks {', '.join(missing)}: write it as {EXAMPLE}"
        )
    if attributes.get("type", "secret-key") != "secret-key":
        raise StorageError(f"the PKCS#11 URL {url!r}: the KMS key is type=secret-key")
    if VERSION_SUFFIX.search(attributes["object"]):
        raise StorageError(
            f"the PKCS#11 URL {url!r}: an object label may not end in .v<number>; those "
            "labels name the key's versions"
        )
    module = options["module-path"]
    if not Path(module).is_absolute():
        raise StorageError(f"the PKCS#11 URL {url!r}: module-path must be an absolute path")
    return Pkcs11Url(
        token=attributes["token"],
        object=attributes["object"],
        module_path=module,
        pin_source=_pin_source(url, options["pin-source"]),
        serial=attributes.get("serial"),
    )


def _attributes(url: str, text: str, separator: str, allowed: frozenset[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in text.split(separator) if text else ():
        name, equals, value = part.partition("=")
        if name == "pin-value":
            # Checked first, and the value is never echoed: it is a secret.
            raise PolicyViolation(
                "a PKCS#11 URL may not carry the PIN (pin-value): URLs end up in logs, process "
                "lists and config files; use pin-source=file:/path (a 0600 file) or "
                "pin-source=env:VARNAME"
            )
        if name not in allowed:
            raise StorageError(
                f"the PKCS#11 URL {url!r} has an unknown attribute {name!r}; "
                f"known here: {', '.join(sorted(allowed))}"
            )
        if not equals or not value or name in found:
            raise StorageError(f"the PKCS#11 URL {url!r}: {name} needs exactly one value")
        try:
            found[name] = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise StorageError(f"the PKCS#11 URL {url!r}: {name} is not UTF-8") from None
    return found


def _pin_source(url: str, text: str) -> PinSource:
    kind, colon, where = text.partition(":")
    if kind == "env" and colon and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", where):
        return PinSource("env", where)
    if kind == "file" and colon:
        # file:/abs and file:///abs (an empty host) name the same file.
        path = where[2:] if where.startswith("///") else where
        if path.startswith("/") and not path.startswith("//"):
            return PinSource("file", path)
    raise StorageError(
        f"the PKCS#11 URL {url!r}: pin-source must be file:/absolute/path or env:VARNAME"
    )


def _read_pin_file(path: Path) -> str:
    try:
        contents = files.read_limited(path, MAX_PIN_FILE)
    except OSError as exc:
        raise StorageError(f"cannot read the PKCS#11 PIN file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(contents.status.st_mode):
        raise StorageError(f"the PKCS#11 PIN file {path} is not a regular file")
    if contents.loose_mode is not None:
        raise PolicyViolation(
            f"the PKCS#11 PIN file {path} has mode {contents.loose_mode:04o}: other users may "
            f"read it; restrict it with: chmod 600 {shlex.quote(str(path))}"
        )
    data = contents.data
    lines = data.decode("utf-8", errors="replace").splitlines()
    if not lines or not lines[0]:
        raise StorageError(f"the PKCS#11 PIN file {path} must hold the user PIN on its first line")
    return lines[0]


__all__ = ["SCHEME", "PinSource", "Pkcs11Url", "parse"]
