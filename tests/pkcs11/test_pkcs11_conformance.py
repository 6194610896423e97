"""The core's KMS conformance kit, run on the pkcs11 provider against SoftHSM2."""

from __future__ import annotations

import pytest
from softhsm_token import SoftHsmToken

from walletbackup.testing import KmsConformance, KmsFactory
from walletbackup_pkcs11 import Pkcs11Kms


class TestPkcs11Kms(KmsConformance):
    """A fresh token per test; the key material cannot be read, so that check is not collected."""

    @pytest.fixture
    def kms_factory(self, softhsm_token: SoftHsmToken) -> KmsFactory:
        url = softhsm_token.url("custodian")
        Pkcs11Kms(url).create_key()
        return lambda: Pkcs11Kms(url)

    @pytest.fixture
    def keyless_kms_factory(self, softhsm_token: SoftHsmToken) -> KmsFactory:
        url = softhsm_token.url("never-created")
        return lambda: Pkcs11Kms(url)
