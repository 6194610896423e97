"""The cached Google sign-in of a desktop user: a refresh token in a file only they can read.

``walletbackup gdrive login`` runs Google's installed-app flow (a browser page, a loopback
redirect, PKCE) with the application's OAuth client and keeps the refresh token, with the client
id and secret it belongs to, in ``platformdirs.user_config_dir("walletbackup")/gdrive/signin.json``
(mode 0600, directory 0700). No access token is stored: each process refreshes one. google-auth
and google-auth-oauthlib are imported only inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import platformdirs

from walletbackup import files
from walletbackup.errors import MethodUnavailable, StorageError

from .endpoints import DEFAULT_REVOKE_URI, SCOPE, check_url
from .keyfile import client_fingerprint

log = logging.getLogger("walletbackup.gdrive")

FORMAT = 1
#: A sign-in is a few hundred bytes; a larger file is not one (and is not read into memory).
MAX_SIGNIN_BYTES = 64 * 1024
_FIELDS = ("client_id", "client_secret", "refresh_token", "token_uri", "revoke_uri")
_INSTALLED_FIELDS = ("client_id", "client_secret", "auth_uri", "token_uri")


def default_path() -> Path:
    return Path(platformdirs.user_config_dir("walletbackup")) / "gdrive" / "signin.json"


@dataclass(frozen=True)
class SignIn:
    """A saved sign-in: enough to refresh access tokens for one Google account and client."""

    path: Path
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_uri: str
    revoke_uri: str = DEFAULT_REVOKE_URI
    scopes: tuple[str, ...] = (SCOPE,)

    @property
    def client(self) -> str:
        """The OAuth client's fingerprint (as stanza args record it)."""
        return client_fingerprint(self.client_id)

    def credentials(self) -> Any:
        """Fresh google-auth user credentials; the first request refreshes an access token."""
        from google.oauth2.credentials import Credentials  # noqa: PLC0415 - heavy, lazy

        # Built directly: Credentials.from_authorized_user_info would reset token_uri.
        return Credentials(  # type: ignore[no-untyped-call]
            None,
            refresh_token=self.refresh_token,
            token_uri=self.token_uri,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=list(self.scopes),
        )

    def keep_rotated(self, credentials: Any) -> None:
        """Save a refresh token the token endpoint rotated while ``credentials`` refreshed."""
        new = getattr(credentials, "refresh_token", None)
        if isinstance(new, str) and new and new != self.refresh_token:
            try:
                save(replace(self, refresh_token=new))
            except OSError as exc:
                log.warning(
                    "could not save the rotated Google sign-in to %s: %s", self.path, exc.strerror
                )

    def to_json(self) -> bytes:
        # The "authorized_user" shape google-auth and gcloud use, plus walletbackup's fields.
        document = {
            "type": "authorized_user",
            "walletbackup_gdrive": FORMAT,
            "scopes": list(self.scopes),
            **{name: getattr(self, name) for name in _FIELDS},
        }
        return json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"


def load(path: Path | None = None) -> SignIn | None:
    """The sign-in saved at ``path`` (default location when None); None if there is none."""
    path = path or default_path()
    try:
        contents = files.read_limited(path, MAX_SIGNIN_BYTES)
    except FileNotFoundError:
        return None
    except files.FileTooLarge:
        raise _damaged(path) from None
    except OSError as exc:
        raise MethodUnavailable(
            f"cannot read the Google sign-in at {path}: {exc.strerror}"
        ) from None
    info = contents.status
    if os.name == "posix":
        if info.st_uid != os.getuid():
            raise MethodUnavailable(
                f"the Google sign-in at {path} belongs to another user; "
                "sign in again with `walletbackup gdrive login`"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise MethodUnavailable(
                f"the Google sign-in at {path} can be read by other users (mode "
                f"{stat.S_IMODE(info.st_mode):03o}); run `chmod 600 {path}`, or sign in again"
            )
    try:
        return _parse(path, json.loads(contents.data))
    except (ValueError, TypeError):
        raise _damaged(path) from None


def _damaged(path: Path) -> MethodUnavailable:
    return MethodUnavailable(
        f"the Google sign-in at {path} is damaged; sign in again with `walletbackup gdrive login`"
    )


def _parse(path: Path, document: Any) -> SignIn:
    if not isinstance(document, dict) or document.get("walletbackup_gdrive") != FORMAT:
        raise ValueError("not a walletbackup sign-in")
    values = {name: document.get(name) for name in _FIELDS}
    scopes = document.get("scopes")
    if not all(isinstance(v, str) and v for v in values.values()) or not (
        isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)
    ):
        raise ValueError("missing fields")
    check_url(values["token_uri"], "token_uri")
    check_url(values["revoke_uri"], "revoke_uri")
    return SignIn(path, scopes=tuple(scopes), **values)  # type: ignore[arg-type]


def save(signin: SignIn) -> None:
    """Write the sign-in atomically, readable by its owner only (directory 0700, file 0600)."""
    files.private_dir(signin.path.parent)
    files.write_private(signin.path, signin.to_json())


def delete(path: Path) -> bool:
    """Remove a saved sign-in; False if there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def read_client_config(path: Path) -> dict[str, Any]:
    """The ``installed`` (Desktop app) client secrets JSON from the Google Cloud console."""
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise MethodUnavailable(
            f"there is no client secrets file at {path}: download it from the Google Cloud "
            "console (APIs & Services, Credentials, your Desktop app OAuth client, Download "
            "JSON)"
        ) from None
    except (OSError, ValueError):
        raise MethodUnavailable(f"{path} is not a readable client secrets JSON file") from None
    if not isinstance(document, dict) or "installed" not in document:
        kind = (
            "a Web application client's"
            if isinstance(document, dict) and "web" in document
            else "not a Desktop app client's"
        )
        raise MethodUnavailable(
            f"{path} is {kind} client secrets file; `walletbackup gdrive login` needs an OAuth "
            "client of application type Desktop app"
        )
    installed = document["installed"]
    if not isinstance(installed, dict) or not all(
        isinstance(installed.get(name), str) and installed[name] for name in _INSTALLED_FIELDS
    ):
        raise MethodUnavailable(f"{path} lacks one of {', '.join(_INSTALLED_FIELDS)}")
    for name in ("auth_uri", "token_uri", "revoke_uri"):
        if name in installed:
            try:
                check_url(installed[name], name)
            except (TypeError, ValueError) as exc:
                raise MethodUnavailable(f"{path}: {exc}") from None
    return document


def login(
    client_secrets: Path,
    path: Path | None = None,
    *,
    wait_seconds: int = 300,
    open_browser: bool = True,
    http_timeout: float = 30.0,
) -> SignIn:
    """Run the installed-app flow in the user's browser and save the sign-in it yields."""
    from .flow import run_flow  # noqa: PLC0415 - google-auth-oauthlib only when signing in

    config = read_client_config(client_secrets)
    installed: Mapping[str, str] = config["installed"]
    refresh_token = run_flow(
        config, wait_seconds=wait_seconds, open_browser=open_browser, http_timeout=http_timeout
    )
    signin = SignIn(
        path or default_path(),
        installed["client_id"],
        installed["client_secret"],
        refresh_token,
        installed["token_uri"],
        installed.get("revoke_uri", DEFAULT_REVOKE_URI),
    )
    save(signin)
    return signin


def revoke(signin: SignIn, timeout: float = 30.0) -> bool:
    """Revoke the refresh token at Google; False if Google no longer knew it."""
    import requests  # noqa: PLC0415 - heavy, lazy

    try:
        response = requests.post(
            signin.revoke_uri, data={"token": signin.refresh_token}, timeout=timeout
        )
    except requests.RequestException as exc:
        raise StorageError(
            f"could not reach Google to revoke the sign-in ({type(exc).__name__})"
        ) from None
    if response.status_code == 200:
        return True
    with contextlib.suppress(ValueError, AttributeError):
        if response.json().get("error") == "invalid_token":
            return False
    raise StorageError(f"Google refused to revoke the sign-in (HTTP {response.status_code})")


__all__ = [
    "SignIn",
    "default_path",
    "delete",
    "load",
    "login",
    "read_client_config",
    "revoke",
    "save",
]
