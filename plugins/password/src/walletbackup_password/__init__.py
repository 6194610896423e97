"""walletbackup-password: the password / PIN / passphrase backup method (Argon2id)."""

from __future__ import annotations

from .method import PasswordMethod
from .policy import PasswordPolicy
from .strength import Estimate, estimate

__all__ = ["Estimate", "PasswordMethod", "PasswordPolicy", "estimate"]
