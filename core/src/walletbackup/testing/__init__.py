"""The conformance kits (need ``walletbackup[testing]``): test classes a plugin subclasses.

- :class:`MethodConformance` for backup methods (:mod:`walletbackup.testing.methods`);
- :class:`StoreConformance` for stores (:mod:`walletbackup.testing.stores`);
- :class:`KmsConformance` for KMS providers (:mod:`walletbackup.testing.kms`).

The project's own methods, stores and KMS run them exactly as a third party does.
"""

from walletbackup.testing._kit import json_safety_problems, secret_forms
from walletbackup.testing.kms import KmsConformance, KmsFactory
from walletbackup.testing.methods import (
    MALFORMED_ARGS,
    MethodConformance,
    MethodFactory,
    new_context,
)
from walletbackup.testing.stores import StoreConformance, StoreFactory

__all__ = [
    "MALFORMED_ARGS",
    "KmsConformance",
    "KmsFactory",
    "MethodConformance",
    "MethodFactory",
    "StoreConformance",
    "StoreFactory",
    "json_safety_problems",
    "new_context",
    "secret_forms",
]
