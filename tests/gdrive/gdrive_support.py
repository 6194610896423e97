"""Names the gdrive tests share (a plain module: conftest names clash across test dirs)."""

from __future__ import annotations

from typing import Any

from gdrive_fake import SCOPE, FakeGoogle
from google.oauth2.credentials import Credentials

CLIENT_ID = "123-desktop.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-desktop-client-secret-5e1f"
OTHER_CLIENT_ID = "456-other.apps.googleusercontent.com"
OTHER_CLIENT_SECRET = "GOCSPX-other-client-secret-9a2c"
#: Seconds per HTTP request in tests: long enough for a loaded CI machine, short for hangs.
TIMEOUT = 2.0


def user_credentials(
    google: FakeGoogle,
    *,
    user: str = "alice",
    client_id: str = CLIENT_ID,
    scopes: tuple[str, ...] = (SCOPE,),
    **extra: Any,
) -> Credentials:
    """Credentials for a user who signed in to the client: no access token yet, a refresh token.

    Built directly: ``Credentials.from_authorized_user_info`` would reset token_uri to Google's.
    """
    secret = CLIENT_SECRET if client_id == CLIENT_ID else OTHER_CLIENT_SECRET
    return Credentials(
        None,
        refresh_token=google.grant(client_id, user, scopes),
        token_uri=google.token_uri,
        client_id=client_id,
        client_secret=secret,
        scopes=list(scopes),
        **extra,
    )
