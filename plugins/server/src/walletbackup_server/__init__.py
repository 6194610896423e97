"""walletbackup-server: the custodian service, the two-parties protocol over HTTP.

``create_app(custodian, state, settings=...)`` is the ASGI app (Starlette); ``walletbackup
serve`` runs it on uvicorn, and ``walletbackup server ...`` administers tenants and their
credentials (see docs/server.md).
"""

from __future__ import annotations

from .app import create_app
from .auth import Principal, Tenants
from .settings import Settings
from .state import ServerState, default_state_url

__all__ = ["Principal", "ServerState", "Settings", "Tenants", "create_app", "default_state_url"]
