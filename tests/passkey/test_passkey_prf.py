"""Both paths give the same secret for one credential and salt: the PRF input derivation.

The method sends the raw 32-byte salt as the PRF extension's ``eval.first`` on both paths; the
client (fido2 here, the browser on the other path) turns it into the hmac-secret input
SHA-256("WebAuthn PRF" || 0x00 || salt). These checks prove fido2's derivation matches the spec
formula, against a computation from the authenticator's own state and against raw hmac-secret.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from fido2.client import DefaultClientDataCollector, Fido2Client
from fido2.ctap2.extensions import HmacSecretExtension
from fido2.webauthn import (
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRequestOptions,
    PublicKeyCredentialType,
    UserVerificationRequirement,
)
from passkey_support import Recorder, new_key
from soft_authenticator import SoftAuthenticator, prf_output

from walletbackup.testing import new_context
from walletbackup_passkey import PasskeyMethod
from walletbackup_passkey.args import parse


def raw_hmac_secret(key: SoftAuthenticator, credential_id: bytes, salt1: bytes) -> bytes:
    """hmac-secret with a caller-chosen salt, bypassing the PRF extension's hashing."""
    client = Fido2Client(
        key,
        DefaultClientDataCollector("https://localhost"),
        Recorder(),
        extensions=[HmacSecretExtension(allow_hmac_secret=True)],
    )
    options = PublicKeyCredentialRequestOptions(
        challenge=os.urandom(32),
        rp_id="localhost",
        allow_credentials=[
            PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY, id=credential_id)
        ],
        user_verification=UserVerificationRequirement.REQUIRED,
        extensions={"hmacGetSecret": {"salt1": salt1}},
    )
    outputs = client.get_assertion(options).get_response(0).client_extension_results
    output: bytes = outputs.hmac_get_secret.output1
    return output


@pytest.mark.parametrize("protocol", [1, 2])
def test_prf_equals_hmac_secret_of_the_hashed_salt(protocol: int) -> None:
    key = new_key(protocols=(protocol,))
    enrollment = PasskeyMethod(device=key, user_interaction=Recorder()).enroll(new_context())
    found = parse(enrollment.args)
    hashed = hashlib.sha256(b"WebAuthn PRF\x00" + found.salt).digest()
    assert raw_hmac_secret(key, found.credential_id, hashed) == enrollment.secret
    assert raw_hmac_secret(key, found.credential_id, found.salt) != enrollment.secret


def test_prf_is_computed_from_the_credential_with_user_verification() -> None:
    key = new_key()
    enrollment = PasskeyMethod(device=key, user_interaction=Recorder()).enroll(new_context())
    found = parse(enrollment.args)
    # HMAC(CredRandom, SHA-256("WebAuthn PRF" || 0x00 || salt)) from the key's own state: no
    # client involved. The key keeps another CredRandom for requests without verification.
    assert enrollment.secret == prf_output(key, found.credential_id, found.salt, uv=True)
    assert enrollment.secret != prf_output(key, found.credential_id, found.salt, uv=False)
