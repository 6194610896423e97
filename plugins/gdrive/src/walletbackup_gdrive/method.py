"""The ``gdrive`` backup method: a random 32-byte key in a file in the user's Drive appDataFolder.

The method secret is that key. Google keeps it in the app's hidden folder (scope
``drive.appdata``), so it is the user's Google account, not the application, that guards it; the
share itself never leaves the core. google-auth and requests are imported only when Drive is used.
"""

from __future__ import annotations

import hmac
import importlib.util
import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from walletbackup.errors import BackupNotFound, MalformedBackup, MethodUnavailable, StorageError
from walletbackup.methods import (
    Availability,
    BackupMethod,
    Enrollment,
    MethodContext,
    Option,
)
from walletbackup.retry import RetryPolicy

from . import signin as signin_store
from .endpoints import DEFAULT_API_ROOT, FULL_DRIVE_SCOPE, SCOPE, check_url
from .keyfile import KEY_SIZE, KeyFileSpec, check_args, client_fingerprint

if TYPE_CHECKING:
    from .drive import DriveClient

log = logging.getLogger("walletbackup.gdrive")

INSTALL = "pip install walletbackup-gdrive"
LOGIN = "run `walletbackup gdrive login --client-secrets FILE`, or pass credentials="


class GDriveMethod(BackupMethod):
    """A random key kept in the user's Google Drive, in this app's hidden appDataFolder.

    Options: ``credentials`` (a google.auth credentials object for the *user*; default: the
    sign-in saved by ``walletbackup gdrive login``), ``signin_file`` (where that sign-in is),
    ``api_root`` (default ``https://www.googleapis.com``), ``timeout`` (seconds per HTTP
    request, 30) and ``retry`` (a :class:`RetryPolicy` or a mapping of its fields).
    """

    name = "gdrive"
    options = (
        Option(
            "credentials",
            "the user's google.auth credentials (default: the saved "
            "`walletbackup gdrive login` sign-in)",
            python_only=True,
        ),
        Option("signin_file", "where the saved sign-in is (default: in the user config dir)"),
        Option("api_root", f"Google APIs root URL, for proxies (default: {DEFAULT_API_ROOT})"),
        Option("timeout", "seconds to wait for each Drive request (default: 30)"),
        Option(
            "retry",
            "a walletbackup_gdrive.RetryPolicy, or a mapping of its fields (attempts, "
            "base_delay, max_delay, max_retry_after; default: 5 attempts)",
        ),
    )

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._api_root = check_url(self.option("api_root", DEFAULT_API_ROOT), "api_root")
        self._timeout = self.option("timeout", 30.0)
        if (
            isinstance(self._timeout, bool)
            or not isinstance(self._timeout, int | float)
            or not 0 < self._timeout <= 600
            or math.isnan(self._timeout)
        ):
            raise ValueError("gdrive: timeout must be a number of seconds, above 0 and at most 600")
        self._retry = _retry_policy(self.option("retry"))
        signin_file = self.option("signin_file")
        self._signin_path = Path(signin_file) if signin_file is not None else None

    # --- the contract ------------------------------------------------------------------

    def enroll(self, context: MethodContext) -> Enrollment:
        spec = KeyFileSpec.for_context(context)
        secret = os.urandom(KEY_SIZE)
        with self._drive() as (drive, client):
            file_id = drive.create(spec, secret)
            # Read it back before anything depends on it: a key that Drive did not keep intact
            # must fail the enrollment now, not the recovery later.
            try:
                stored = drive.download(file_id, KEY_SIZE + 1)
                if stored is None or not hmac.compare_digest(stored, secret):
                    raise StorageError(
                        f"the key file {spec.name} did not read back from Google Drive intact"
                    )
            except Exception:
                self._remove_orphan(drive, file_id, spec.name)
                raise
        return Enrollment(secret, {"file_id": file_id, "file_name": spec.name, "client": client})

    def unlock(self, args: Mapping[str, Any], context: MethodContext) -> bytes:
        check_args(args)
        with self._drive() as (drive, client):
            data = drive.download(args["file_id"], KEY_SIZE + 1)
        if data is None:
            raise BackupNotFound(_gone(args, client))
        if len(data) != KEY_SIZE:
            size = f"more than {KEY_SIZE}" if len(data) > KEY_SIZE else str(len(data))
            raise MalformedBackup(
                f"the Google Drive key file {args['file_name']} holds {size} bytes, not "
                f"{KEY_SIZE}: it is not the key walletbackup wrote (altered or replaced)"
            )
        return data

    def discard(self, args: Mapping[str, Any], context: MethodContext) -> None:
        check_args(args)
        with self._drive() as (drive, _):
            if not drive.delete(args["file_id"]):
                log.info("the Google Drive key file %s was already gone", args["file_name"])

    def check_presence(self, args: Mapping[str, Any], context: MethodContext) -> bool:
        """Whether the key file is still in the appDataFolder (one metadata request).

        ``False`` also when these credentials cannot see it (another account or OAuth client):
        as for :meth:`unlock`, Drive answers 404 either way.
        """
        check_args(args)
        with self._drive() as (drive, _):
            return drive.exists(args["file_id"])

    def availability(self) -> Availability:
        # Found, not imported: google-auth and requests cost tens of milliseconds, and every
        # method listing asks; they are imported only when there are credentials to look at.
        missing = _not_installed()
        if missing is not None:
            return Availability(False, f"{missing} is not installed", INSTALL)
        credentials = self.option("credentials")
        if credentials is None:
            return self._saved_signin_availability()
        try:
            from google.auth.credentials import Credentials  # noqa: PLC0415 - heavy, lazy
        except ImportError as exc:
            return Availability(False, f"{_missing(exc)} is not installed", INSTALL)
        if not isinstance(credentials, Credentials):
            return Availability(
                False,
                f"credentials is a {type(credentials).__name__}, not a "
                "google.auth credentials object",
                "pass google.oauth2.credentials.Credentials for the user",
            )
        return _credentials_availability(credentials)

    @classmethod
    def validate_args(cls, args: Mapping[str, Any]) -> None:
        check_args(args)

    # --- plumbing ----------------------------------------------------------------------

    @contextmanager
    def _drive(self) -> Iterator[tuple[DriveClient, str]]:
        """A Drive client for the credentials, and the OAuth client's fingerprint."""
        try:
            from .drive import DriveClient  # noqa: PLC0415 - google-auth and requests, lazily
        except ImportError as exc:
            raise MethodUnavailable(
                f"the gdrive method needs {_missing(exc)}, which is not installed: {INSTALL}"
            ) from None
        saved = None
        credentials = self.option("credentials")
        if credentials is None:
            saved = signin_store.load(self._signin_path)
            if saved is None:
                raise MethodUnavailable(f"not signed in to Google Drive: {LOGIN}")
            credentials = saved.credentials()
        client = client_fingerprint(getattr(credentials, "client_id", None))
        try:
            with DriveClient(
                credentials, api_root=self._api_root, timeout=self._timeout, retry=self._retry
            ) as drive:
                yield drive, client
        finally:
            if saved is not None:
                saved.keep_rotated(credentials)

    def _saved_signin_availability(self) -> Availability:
        try:
            saved = signin_store.load(self._signin_path)
        except MethodUnavailable as exc:
            return Availability(False, str(exc))
        if saved is None:
            return Availability(False, "not signed in to Google Drive", LOGIN)
        return Availability(True)

    @staticmethod
    def _remove_orphan(drive: DriveClient, file_id: str, name: str) -> None:
        try:
            drive.delete(file_id)
        except Exception as exc:
            log.warning(
                "could not delete the unused Google Drive key file %s (%s); it holds a "
                "random key nothing uses",
                name,
                type(exc).__name__,
            )


def _retry_policy(value: Any) -> RetryPolicy:
    if value is None or isinstance(value, RetryPolicy):
        return value or RetryPolicy()
    # A mapping, so the option also works from a CLI options file (JSON).
    fields = {"attempts", "base_delay", "max_delay", "max_retry_after"}
    if not isinstance(value, Mapping) or not set(value) <= fields:
        raise TypeError(
            "gdrive: retry must be a walletbackup_gdrive.RetryPolicy or a mapping of "
            f"{', '.join(sorted(fields))}"
        )
    return RetryPolicy(**value)


def _not_installed() -> str | None:
    """The first of the distributions Drive needs that cannot be found, without importing it."""
    for module, distribution in (("google.auth", "google-auth"), ("requests", "requests")):
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):  # no ``google`` package at all; a half-removed one
            found = None
        if found is None:
            return distribution
    return None


def _missing(error: ImportError) -> str:
    """The distribution to blame for an ImportError."""
    name = error.name or ""
    return "google-auth" if name.startswith("google") or not name else name.split(".")[0]


def _credentials_availability(credentials: Any) -> Availability:
    from google.oauth2 import credentials as user  # noqa: PLC0415 - lazy
    from google.oauth2 import service_account  # noqa: PLC0415

    if isinstance(credentials, service_account.Credentials):
        return Availability(
            False,
            "a service account cannot reach a user's Drive appDataFolder (and a key in "
            "the operator's own Drive would not be the user's)",
            "pass the user's own OAuth credentials",
        )
    if not isinstance(credentials, user.Credentials):
        return Availability(True)  # other user credential kinds refresh themselves
    refreshable = bool(credentials.refresh_handler) or all(
        (
            credentials.refresh_token,
            credentials.token_uri,
            credentials.client_id,
            credentials.client_secret,
        )
    )
    if not credentials.valid and not refreshable:
        return Availability(
            False,
            "the Google access token is missing or expired and the "
            "credentials cannot refresh it (no refresh token)",
            "pass fresh credentials, or credentials with a refresh token",
        )
    scopes = credentials.granted_scopes or credentials.scopes
    if scopes and SCOPE not in scopes and FULL_DRIVE_SCOPE not in scopes:
        return Availability(
            False,
            f"the credentials do not include the scope {SCOPE}",
            "sign the user in again asking for that scope",
        )
    return Availability(True)


def _gone(args: Mapping[str, Any], client: str) -> str:
    enrolled = args["client"]
    if enrolled and client and enrolled != client:
        cause = (
            f"it was created with another OAuth client (fingerprint {enrolled}; these "
            f"credentials belong to {client}), and only the creating client's Google Cloud "
            "project can read an appDataFolder file: use the application's original OAuth "
            "client"
        )
    else:
        cause = (
            "the user removed this app's access to Google Drive or deleted its hidden app "
            "data (either deletes the app's folder), the key was discarded by a newer "
            "backup, or the credentials belong to another Google account or to an OAuth "
            "client of another Cloud project"
        )
    return (
        f"the Google Drive key file {args['file_name']} is gone: {cause}. Recover with "
        "another method, then add gdrive again."
    )


__all__ = ["GDriveMethod"]
