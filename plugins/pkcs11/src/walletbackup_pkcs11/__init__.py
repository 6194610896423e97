"""walletbackup-pkcs11: the custodian's KMS key in an HSM, through PKCS#11 (``pkcs11:`` URLs)."""

from .kms import Pkcs11Kms

__all__ = ["Pkcs11Kms"]
