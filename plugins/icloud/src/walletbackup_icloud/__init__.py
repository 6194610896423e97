"""walletbackup-icloud: the icloud backup method (a random key in a file in iCloud Drive)."""

from __future__ import annotations

from .keyfile import FOLDER_NAME, KeyFileRef
from .method import ICloudMethod

__all__ = ["FOLDER_NAME", "ICloudMethod", "KeyFileRef"]
