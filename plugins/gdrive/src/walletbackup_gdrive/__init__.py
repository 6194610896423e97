"""walletbackup-gdrive: the Google Drive backup method (a random key in the app's appDataFolder).

Importing this package loads neither google-auth nor requests; they load when Drive is used.
"""

from __future__ import annotations

from .endpoints import SCOPE
from .method import GDriveMethod
from .retry import RetryPolicy

__all__ = ["SCOPE", "GDriveMethod", "RetryPolicy"]
