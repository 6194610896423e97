"""Every pkcs11 test gets SoftHSM2 tokens from the shared fixture module."""

from __future__ import annotations

from softhsm_token import softhsm_conf, softhsm_token

__all__ = ["softhsm_conf", "softhsm_token"]
