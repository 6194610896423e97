"""A software CTAP2 authenticator: a fido2 ``CtapDevice`` that answers CTAPHID CBOR in memory.

Implements what the passkey method uses, following CTAP 2.1: getInfo, makeCredential,
getAssertion, clientPIN (getPinRetries, getKeyAgreement, setPIN, getPinToken,
getPinUvAuthTokenUsingPinWithPermissions, getPinUvAuthTokenUsingUvWithPermissions) and the
hmac-secret extension, with PIN/UV auth protocols 1 and 2. Its crypto is written against the
spec with ``cryptography`` (not fido2's), so the real ``Fido2Client`` is checked against an
independent implementation. Test controls: ``presence``, ``uv_ok``, ``delete``, ``corrupt``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from threading import Event
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fido2 import cbor
from fido2.cose import ES256
from fido2.ctap import STATUS, CtapDevice, CtapError
from fido2.hid import CAPABILITY, CTAPHID
from fido2.webauthn import AttestedCredentialData

ERR = CtapError.ERR
AAGUID = bytes.fromhex("77616c6c65746261636b7570736f6674")  # "walletbackupsoft"
PERM_MC, PERM_GA = 0x01, 0x02
UP, UV, AT, ED = 0x01, 0x04, 0x40, 0x80


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class PinProtocol:
    """PIN/UV auth protocol 1 or 2 (CTAP 2.1 sections 6.5.6 and 6.5.7), authenticator side."""

    def __init__(self, version: int) -> None:
        if version not in (1, 2):
            raise CtapError(ERR.INVALID_PARAMETER)
        self.version = version

    def kdf(self, z: bytes) -> bytes:
        if self.version == 1:
            return sha256(z)
        return b"".join(
            HKDF(hashes.SHA256(), 32, b"\0" * 32, info).derive(z)
            for info in (b"CTAP2 HMAC key", b"CTAP2 AES key")
        )

    def encrypt(self, key: bytes, data: bytes) -> bytes:
        iv = b"\0" * 16 if self.version == 1 else os.urandom(16)
        enc = Cipher(algorithms.AES(self._aes(key)), modes.CBC(iv)).encryptor()
        return (b"" if self.version == 1 else iv) + enc.update(data) + enc.finalize()

    def decrypt(self, key: bytes, data: bytes) -> bytes:
        iv, data = (b"\0" * 16, data) if self.version == 1 else (data[:16], data[16:])
        if not data or len(data) % 16:
            raise CtapError(ERR.INVALID_LENGTH)
        dec = Cipher(algorithms.AES(self._aes(key)), modes.CBC(iv)).decryptor()
        return dec.update(data) + dec.finalize()

    def authenticate(self, key: bytes, message: bytes) -> bytes:
        tag = hmac.new(key[:32], message, hashlib.sha256).digest()
        return tag[:16] if self.version == 1 else tag

    def verify(self, key: bytes, message: bytes, tag: object) -> bool:
        return isinstance(tag, bytes) and hmac.compare_digest(self.authenticate(key, message), tag)

    def _aes(self, key: bytes) -> bytes:
        return key if self.version == 1 else key[32:]


@dataclass
class Credential:
    rp_id: str
    key: ec.EllipticCurvePrivateKey
    resident: bool
    user: Mapping[str, Any]
    cred_random: tuple[bytes, bytes] | None  # (without UV, with UV), when hmac-secret is on
    counter: int = 0


@dataclass
class SoftAuthenticator(CtapDevice):
    """An in-memory authenticator; ``pin=None`` means no PIN is set yet."""

    pin: str | None = None
    protocols: tuple[int, ...] = (2, 1)
    hmac_secret: bool = True
    hmac_secret_mc: bool = False  # CTAP 2.2: the PRF result already at makeCredential
    builtin_uv: bool = False
    presence: bool = True  # False: the user never touches the key (the request times out)
    uv_ok: bool = True  # False: built-in user verification refuses
    pin_retries: int = 8
    credentials: dict[bytes, Credential] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._pin_hash = None if self.pin is None else sha256(self.pin.encode())[:16]
        self._key_agreement = ec.generate_private_key(ec.SECP256R1())
        self._token: tuple[bytes, int, str | None] | None = None  # token, permissions, rp id
        self._keepalive: Callable[[STATUS], None] | None = None

    # --- CtapDevice --------------------------------------------------------------------------

    @property
    def capabilities(self) -> int:
        return CAPABILITY.CBOR

    @classmethod
    def list_devices(cls) -> Iterator[SoftAuthenticator]:
        return iter(())

    def call(
        self,
        cmd: int,
        data: bytes = b"",
        event: Event | None = None,
        on_keepalive: Callable[[STATUS], None] | None = None,
    ) -> bytes:
        if cmd != CTAPHID.CBOR or not data:
            raise CtapError(ERR.INVALID_COMMAND)
        handlers: dict[int, Callable[[Mapping[int, Any]], Mapping[int, Any]]] = {
            0x01: self._make_credential,
            0x02: self._get_assertion,
            0x04: self._get_info,
            0x06: self._client_pin,
        }
        self._keepalive = on_keepalive
        try:
            handler = handlers.get(data[0])
            if handler is None:
                raise CtapError(ERR.INVALID_COMMAND)
            params = cbor.decode(data[1:]) if len(data) > 1 else {}
            if not isinstance(params, Mapping):
                raise CtapError(ERR.CBOR_UNEXPECTED_TYPE)
            response = handler(params)
        except CtapError as error:
            return bytes([error.code])
        return b"\0" + (cbor.encode(response) if response else b"")

    # --- test controls ------------------------------------------------------------------------

    def delete(self, credential_id: bytes) -> None:
        del self.credentials[credential_id]

    def corrupt(self, credential_id: bytes) -> None:
        """Replace the credential's hmac-secret keys: every PRF output changes."""
        self.credentials[credential_id].cred_random = (os.urandom(32), os.urandom(32))

    # --- commands ------------------------------------------------------------------------------

    def _get_info(self, _: Mapping[int, Any]) -> Mapping[int, Any]:
        options = {
            "rk": True,
            "up": True,
            "plat": False,
            "clientPin": self._pin_hash is not None,
            "pinUvAuthToken": True,
        }
        if self.builtin_uv:
            options["uv"] = True
        return {
            1: ["FIDO_2_0", "FIDO_2_1"],
            2: [
                name
                for name, on in (
                    ("hmac-secret", self.hmac_secret),
                    ("hmac-secret-mc", self.hmac_secret_mc),
                )
                if on
            ],
            3: AAGUID,
            4: options,
            5: 4096,
            6: list(self.protocols),
            7: 8,
            8: 128,
        }

    def _make_credential(self, p: Mapping[int, Any]) -> Mapping[int, Any]:
        rp_id, options = p[2]["id"], p.get(7, {})
        uv = self._verify_user(p, 8, 9, options, PERM_MC, rp_id, p[1])
        if not any(param.get("alg") == ES256.ALGORITHM for param in p[4]):
            raise CtapError(ERR.UNSUPPORTED_ALGORITHM)
        self._user_presence()
        for excluded in p.get(5) or []:
            if excluded["id"] in self.credentials:
                raise CtapError(ERR.CREDENTIAL_EXCLUDED)
        requested = p.get(6) or {}
        wants_hmac = self.hmac_secret and requested.get("hmac-secret") is True
        credential_id, key = os.urandom(48), ec.generate_private_key(ec.SECP256R1())
        cred_random = (os.urandom(32), os.urandom(32)) if wants_hmac else None
        self.credentials[credential_id] = Credential(
            rp_id, key, bool(options.get("rk")), p[3], cred_random
        )
        attested = AttestedCredentialData.create(
            AAGUID, credential_id, ES256.from_cryptography_key(key.public_key())
        )
        extensions: dict[str, Any] | None = {"hmac-secret": True} if wants_hmac else None
        salts = requested.get("hmac-secret-mc")
        if extensions is not None and cred_random is not None and self.hmac_secret_mc and salts:
            extensions["hmac-secret-mc"] = self._hmac_secret(salts, cred_random[uv])
        auth_data = self._auth_data(rp_id, UP | AT | (UV if uv else 0), 0, attested, extensions)
        signature = key.sign(auth_data + p[1], ec.ECDSA(hashes.SHA256()))
        return {1: "packed", 2: auth_data, 3: {"alg": ES256.ALGORITHM, "sig": signature}}

    def _get_assertion(self, p: Mapping[int, Any]) -> Mapping[int, Any]:
        rp_id, options = p[1], p.get(5, {})
        uv = self._verify_user(p, 6, 7, options, PERM_GA, rp_id, p[2])
        allowed = [c["id"] for c in p.get(3) or []]
        found = [
            i
            for i in allowed or self.credentials
            if i in self.credentials
            and self.credentials[i].rp_id == rp_id
            and (allowed or self.credentials[i].resident)
        ]
        presence = options.get("up", True)
        if presence:
            self._user_presence()
        if not found:
            raise CtapError(ERR.NO_CREDENTIALS)
        credential = self.credentials[found[0]]
        credential.counter += 1
        extensions = None
        request = (p.get(4) or {}).get("hmac-secret")
        if request is not None and credential.cred_random is not None and presence:
            extensions = {"hmac-secret": self._hmac_secret(request, credential.cred_random[uv])}
        flags = (UP if presence else 0) | (UV if uv else 0)
        auth_data = self._auth_data(rp_id, flags, credential.counter, b"", extensions)
        response = {
            1: {"type": "public-key", "id": found[0]},
            2: auth_data,
            3: credential.key.sign(auth_data + p[2], ec.ECDSA(hashes.SHA256())),
        }
        if credential.resident:
            response[4] = dict(credential.user)
        return response

    def _client_pin(self, p: Mapping[int, Any]) -> Mapping[int, Any]:
        sub = p.get(2)
        if sub == 0x01:
            return {3: self.pin_retries}
        protocol = self._protocol(p.get(1))
        if sub == 0x02:
            public = self._key_agreement.public_key().public_numbers()
            return {
                1: {
                    1: 2,
                    3: -25,
                    -1: 1,
                    -2: public.x.to_bytes(32, "big"),
                    -3: public.y.to_bytes(32, "big"),
                }
            }
        shared = self._shared_secret(protocol, p.get(3))
        if sub == 0x03:
            if self._pin_hash is not None:
                raise CtapError(ERR.NOT_ALLOWED)
            if not protocol.verify(shared, p.get(5, b""), p.get(4)):
                raise CtapError(ERR.PIN_AUTH_INVALID)
            pin = protocol.decrypt(shared, p[5]).rstrip(b"\0")
            if len(pin) < 4:
                raise CtapError(ERR.PIN_POLICY_VIOLATION)
            self._pin_hash, self.pin_retries = sha256(pin)[:16], 8
            return {}
        if sub in (0x05, 0x09):
            self._check_pin(protocol, shared, p.get(6))
        elif sub == 0x06 and self.builtin_uv:
            if not self.uv_ok:
                raise CtapError(ERR.UV_INVALID)
        else:
            raise CtapError(ERR.INVALID_SUBCOMMAND)
        token = os.urandom(32)
        self._token = (token, p.get(9, PERM_MC | PERM_GA), p.get(10))
        return {2: protocol.encrypt(shared, token)}

    # --- helpers --------------------------------------------------------------------------------

    def _protocol(self, version: object) -> PinProtocol:
        if version not in self.protocols:
            raise CtapError(ERR.INVALID_PARAMETER)
        assert isinstance(version, int)
        return PinProtocol(version)

    def _shared_secret(self, protocol: PinProtocol, cose: object) -> bytes:
        if not isinstance(cose, Mapping):
            raise CtapError(ERR.MISSING_PARAMETER)
        peer = ec.EllipticCurvePublicNumbers(
            int.from_bytes(cose[-2], "big"), int.from_bytes(cose[-3], "big"), ec.SECP256R1()
        )
        return protocol.kdf(self._key_agreement.exchange(ec.ECDH(), peer.public_key()))

    def _check_pin(self, protocol: PinProtocol, shared: bytes, pin_hash_enc: object) -> None:
        if self._pin_hash is None:
            raise CtapError(ERR.PIN_NOT_SET)
        if self.pin_retries <= 0:
            raise CtapError(ERR.PIN_BLOCKED)
        if not isinstance(pin_hash_enc, bytes):
            raise CtapError(ERR.MISSING_PARAMETER)
        if not hmac.compare_digest(protocol.decrypt(shared, pin_hash_enc), self._pin_hash):
            self.pin_retries -= 1
            self._key_agreement = ec.generate_private_key(ec.SECP256R1())  # as the spec asks
            raise CtapError(ERR.PIN_BLOCKED if self.pin_retries == 0 else ERR.PIN_INVALID)
        self.pin_retries = 8

    def _verify_user(
        self,
        p: Mapping[int, Any],
        auth_key: int,
        proto_key: int,
        options: Mapping[str, Any],
        permission: int,
        rp_id: str,
        client_data_hash: bytes,
    ) -> bool:
        """Whether the request carries valid user verification (a PIN/UV token or built-in UV)."""
        if auth_key in p:
            protocol = self._protocol(p.get(proto_key))
            if self._token is None:
                raise CtapError(ERR.PIN_AUTH_INVALID)
            token, permissions, token_rp = self._token
            if not protocol.verify(token, client_data_hash, p[auth_key]):
                raise CtapError(ERR.PIN_AUTH_INVALID)
            if not permissions & permission or token_rp not in (None, rp_id):
                raise CtapError(ERR.UNAUTHORIZED_PERMISSION)
            return True
        if options.get("uv"):
            if not self.builtin_uv:
                raise CtapError(ERR.INVALID_OPTION)
            if not self.uv_ok:
                raise CtapError(ERR.OPERATION_DENIED)
            return True
        if self._pin_hash is not None and permission == PERM_MC:
            raise CtapError(ERR.PUAT_REQUIRED)
        return False

    def _user_presence(self) -> None:
        if self._keepalive is not None:
            self._keepalive(STATUS.UPNEEDED)
        if not self.presence:
            raise CtapError(ERR.USER_ACTION_TIMEOUT)

    def _hmac_secret(self, request: Mapping[int, Any], cred_random: bytes) -> bytes:
        protocol = self._protocol(request.get(4, 1))
        shared = self._shared_secret(protocol, request.get(1))
        if not protocol.verify(shared, request.get(2, b""), request.get(3)):
            raise CtapError(ERR.PIN_AUTH_INVALID)
        salts = protocol.decrypt(shared, request[2])
        if len(salts) not in (32, 64):
            raise CtapError(ERR.INVALID_LENGTH)
        output = b"".join(
            hmac.new(cred_random, salts[i : i + 32], hashlib.sha256).digest()
            for i in range(0, len(salts), 32)
        )
        return protocol.encrypt(shared, output)

    @staticmethod
    def _auth_data(
        rp_id: str, flags: int, counter: int, attested: bytes, extensions: Mapping[str, Any] | None
    ) -> bytes:
        return (
            sha256(rp_id.encode())
            + bytes([flags | (ED if extensions else 0)])
            + counter.to_bytes(4, "big")
            + attested
            + (cbor.encode(extensions) if extensions else b"")
        )


def prf_output(
    authenticator: SoftAuthenticator, credential_id: bytes, salt: bytes, *, uv: bool = True
) -> bytes:
    """The PRF result computed from the authenticator's own state, independently of any client:
    HMAC-SHA-256(CredRandom, SHA-256("WebAuthn PRF" || 0x00 || salt))."""
    cred_random = authenticator.credentials[credential_id].cred_random
    assert cred_random is not None
    return hmac.new(cred_random[uv], sha256(b"WebAuthn PRF\x00" + salt), hashlib.sha256).digest()
