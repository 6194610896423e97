"""KMS providers: they wrap and unwrap the custodian envelope's 32-byte backup key.

The contract is :class:`KmsProvider` (:mod:`walletbackup.kms.base`); the core's ``local`` provider
(a key file) is :class:`LocalKms` (:mod:`walletbackup.kms.local`). HSMs (PKCS#11) and cloud KMSes
are plugins registered through ``register_kms_providers``.
"""

from walletbackup.kms.base import KeyInfo, KmsKeyMissing, KmsProvider
from walletbackup.kms.local import LocalKms

__all__ = ["KeyInfo", "KmsKeyMissing", "KmsProvider", "LocalKms"]
