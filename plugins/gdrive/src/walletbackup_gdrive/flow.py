"""Google's installed-app OAuth flow (google-auth-oauthlib), with its failures made readable."""

from __future__ import annotations

from typing import Any

import requests

# Neither package ships type hints.
from google_auth_oauthlib.flow import (  # type: ignore[import-untyped]
    InstalledAppFlow,
    WSGITimeoutError,
)
from oauthlib.oauth2.rfc6749.errors import OAuth2Error  # type: ignore[import-untyped]

from walletbackup.errors import MethodUnavailable

from .endpoints import SCOPE

_PROMPT = (
    "Sign in to Google in your browser to let walletbackup keep backup keys in its own "
    "hidden Google Drive folder. If no browser opened, visit:\n{url}"
)
_DONE = "walletbackup is signed in to Google Drive. You may close this window."


class _Flow(InstalledAppFlow):  # type: ignore[misc]
    """The installed-app flow, with a timeout on the token request (requests has none)."""

    http_timeout: float = 30.0

    def fetch_token(self, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.http_timeout)
        return super().fetch_token(**kwargs)


def run_flow(
    client_config: dict[str, Any], *, wait_seconds: int, open_browser: bool, http_timeout: float
) -> str:
    """Sign the user in through the browser; the refresh token for the drive.appdata scope."""
    flow = _Flow.from_client_config(client_config, scopes=[SCOPE])
    flow.http_timeout = http_timeout
    try:
        # 127.0.0.1, not "localhost": Google's advice for loopback redirects, and no resolver
        # can send the code elsewhere. prompt=consent makes Google issue a refresh token even to
        # an account that signed in before.
        credentials = flow.run_local_server(
            host="127.0.0.1",
            port=0,
            open_browser=open_browser,
            timeout_seconds=wait_seconds,
            authorization_prompt_message=_PROMPT,
            success_message=_DONE,
            prompt="consent",
        )
    except WSGITimeoutError:
        raise MethodUnavailable(
            f"no sign-in came back from the browser within {wait_seconds} "
            "s; run `walletbackup gdrive login` again"
        ) from None
    except OAuth2Error as exc:
        raise MethodUnavailable(
            f"Google sign-in failed ({exc.error}"
            + (f": {exc.description}" if exc.description else "")
            + "); run `walletbackup gdrive login` again"
        ) from None
    except Warning as exc:
        # oauthlib raises (not warns) when the token grants other scopes than were asked for:
        # the user unticked access to the app's Drive folder.
        granted = " ".join(getattr(exc, "new_scope", None) or []) or "nothing"
        raise MethodUnavailable(
            f"Google granted {granted!r}, not access to the app's Drive "
            f"folder ({SCOPE}); run `walletbackup gdrive login` again and "
            "allow it"
        ) from None
    except requests.RequestException as exc:
        raise MethodUnavailable(
            f"could not reach Google's token endpoint "
            f"({type(exc).__name__}); check the connection and try again"
        ) from None
    if not credentials.refresh_token:
        raise MethodUnavailable(
            "Google returned no refresh token; run `walletbackup gdrive login` again"
        )
    granted_scopes = credentials.granted_scopes
    if granted_scopes is not None and SCOPE not in granted_scopes:
        raise MethodUnavailable(
            f"Google did not grant access to the app's Drive folder "
            f"({SCOPE}); run `walletbackup gdrive login` again and allow it"
        )
    return str(credentials.refresh_token)


__all__ = ["run_flow"]
