"""walletbackup-gdrive: the Google Drive backup method (a random key in the app's appDataFolder).

Importing this package loads neither google-auth nor requests; they load when Drive is used.
"""

from __future__ import annotations

from walletbackup.retry import RetryPolicy

from .endpoints import SCOPE
from .method import GDriveMethod

__all__ = ["SCOPE", "GDriveMethod", "RetryPolicy"]
