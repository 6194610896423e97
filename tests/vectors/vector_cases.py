"""Known-answer cases for both envelope versions, and :class:`Built`, a sealed case to edit.

Version 2 is sealed by the library and checked against :func:`vector_support.spec_seal`;
version 1, which the library only reads now, is sealed by ``spec_seal`` alone (the committed
v1 vectors must come out byte for byte as they were when the library wrote v1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vector_support import (
    FixedKeyKms,
    Recording,
    Replay,
    SeededStream,
    auth_key,
    b64u,
    canon,
    frame_v1,
    frame_v2,
    frame_v2_bytes,
    header_end,
    header_of,
    recipient_key,
    spec_seal,
    unb64u,
)

from walletbackup import envelope


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    wallet_id: str
    share_role: str
    key_epoch: int
    methods: tuple[tuple[str, dict[str, Any]], ...]  # (type, args); empty for custodian
    share_size: int
    commitment: bool = False
    revision: int = 0  # version 2 only


_PASSWORD = ("password", {"kdf": "argon2id", "m": 65536, "p": 4, "salt": "c2FsdA", "t": 3})
_THREE = (
    ("password", {"kdf": "argon2id", "m": 19456, "p": 1, "salt": "cGVwcGVy", "t": 2}),
    ("passkey", {"credential_id": "Y3JlZA", "prf_salt": "cHJm", "rp_id": "localhost"}),
    ("gdrive", {"file_id": "1AbC-dEf_9"}),
)
_ICLOUD = ("icloud", {"path": "walletbackup/keys/w3.key"})

CASES = {
    1: (
        Case(
            "client_one_stanza",
            "client envelope, one password-like method stanza",
            "wallet-1",
            "client",
            0,
            (_PASSWORD,),
            48,
        ),
        Case(
            "client_three_stanzas",
            "client envelope, three method stanzas; non-ASCII wallet id",
            "wallet-\u00fc\u00df-2",
            "client",
            7,
            _THREE,
            64,
        ),
        Case(
            "client_share_commitment",
            "client envelope with share_commitment = SHA-256(share); largest key_epoch",
            "wallet-3",
            "client",
            2**53 - 1,
            (_ICLOUD,),
            33,
            commitment=True,
        ),
        Case(
            "custodian_kms",
            "custodian envelope, one kms stanza (test KMS)",
            "wallet-1",
            "custodian",
            0,
            (),
            48,
        ),
    ),
    2: (
        Case(
            "client_one_stanza",
            "client envelope, one password-like method stanza; revision 1",
            "wallet-1",
            "client",
            0,
            (_PASSWORD,),
            48,
            revision=1,
        ),
        Case(
            "client_three_stanzas",
            "client envelope, three method stanzas (three auth keys in the payload); "
            "non-ASCII wallet id",
            "wallet-\u00fc\u00df-2",
            "client",
            7,
            _THREE,
            64,
            revision=12,
        ),
        Case(
            "client_share_commitment",
            "client envelope with share_commitment = SHA-256(share); largest key_epoch and "
            "revision",
            "wallet-3",
            "client",
            2**53 - 1,
            (_ICLOUD,),
            33,
            commitment=True,
            revision=2**53 - 1,
        ),
        Case(
            "custodian_kms",
            "custodian envelope, one kms stanza (test KMS); no tag, no auth keys (count 0)",
            "wallet-1",
            "custodian",
            0,
            (),
            48,
            revision=1,
        ),
    ),
}


@dataclass(frozen=True)
class Built:
    """A sealed case with everything needed to open and edit it."""

    version: int
    vector: dict[str, Any]
    data: bytes
    backup_key: bytes
    share: bytes
    secrets: tuple[bytes, ...]
    kms_key: bytes | None

    @property
    def envelope_id(self) -> bytes:
        return bytes.fromhex(self.vector["expected"]["envelope_id"])

    @property
    def auth_keys(self) -> dict[bytes, bytes]:
        return {
            bytes.fromhex(r["id"]): bytes.fromhex(r["auth_key"])
            for r in self.vector["recipients"]
            if "auth_key" in r
        }

    @property
    def header_end(self) -> int:
        return header_end(self.data)

    def reframe(
        self,
        header: Any,
        *,
        envelope_id: bytes | None = None,
        encode: Callable[[Any], bytes] = canon,
        **v2_options: Any,
    ) -> bytes:
        """``header`` framed with a valid MAC and payload (and, in v2, tags) under the real keys.

        ``v2_options`` (``retag``, ``entries``, ``share``) reach :func:`frame_v2`.
        """
        eid = envelope_id or self.envelope_id
        if self.version == 1:
            if v2_options:
                raise AssertionError(f"version 1 has no {', '.join(v2_options)}")
            return frame_v1(encode(header), self.backup_key, eid, self.share)
        options = {"share": self.share, **v2_options}
        return frame_v2(
            header,
            backup_key=self.backup_key,
            envelope_id=eid,
            auth_keys=self.auth_keys,
            encode=encode,
            **options,
        )

    def reframe_bytes(self, header: bytes) -> bytes:
        """Header bytes that must fail parsing, in an otherwise valid frame."""
        if self.version == 1:
            return frame_v1(header, self.backup_key, self.envelope_id, self.share)
        return frame_v2_bytes(
            header, backup_key=self.backup_key, envelope_id=self.envelope_id, share=self.share
        )

    def edited(self, edit: Callable[[dict[str, Any]], None], **options: Any) -> bytes:
        header = header_of(self.data)
        edit(header)
        return self.reframe(header, **options)


def header_context(vector_context: dict[str, Any], version: int) -> dict[str, Any]:
    """The header's context object for a vector's context (hex fields)."""
    obj: dict[str, Any] = {
        "backup_set_id": b64u(bytes.fromhex(vector_context["backup_set_id"])),
        "key_epoch": vector_context["key_epoch"],
        "share_role": vector_context["share_role"],
        "wallet_id": vector_context["wallet_id"],
    }
    if version == 2:
        obj["revision"] = vector_context["revision"]
    if vector_context["share_commitment"] is not None:
        obj["share_commitment"] = b64u(bytes.fromhex(vector_context["share_commitment"]))
    return obj


def library_context(vector_context: dict[str, Any]) -> envelope.Context:
    commitment = vector_context["share_commitment"]
    return envelope.Context(
        wallet_id=vector_context["wallet_id"],
        backup_set_id=bytes.fromhex(vector_context["backup_set_id"]),
        share_role=vector_context["share_role"],
        key_epoch=vector_context["key_epoch"],
        revision=vector_context.get("revision", 0),
        share_commitment=None if commitment is None else bytes.fromhex(commitment),
    )


def library_recipients(
    vector: dict[str, Any], kms_nonces: Callable[[int], bytes]
) -> list[envelope.Recipient | envelope.KmsRecipient]:
    """The recipients of a v2 vector, as the library takes them (public keys and auth keys)."""
    out: list[envelope.Recipient | envelope.KmsRecipient] = []
    for r in vector["recipients"]:
        if r["type"] == "kms":
            kms = FixedKeyKms(bytes.fromhex(r["kms_key"]), kms_nonces)
            out.append(envelope.KmsRecipient(bytes.fromhex(r["id"]), r["args"], kms))
        else:
            out.append(
                envelope.Recipient(
                    r["type"],
                    bytes.fromhex(r["id"]),
                    r["args"],
                    bytes.fromhex(r["recipient"]),
                    bytes.fromhex(r["auth_key"]),
                )
            )
    return out


def build(case: Case, version: int) -> Built:
    seed = b"walletbackup/v%d vector " % version
    inputs = SeededStream(seed + b"inputs/" + case.name.encode())
    share = inputs(case.share_size)
    context: dict[str, Any] = {
        "wallet_id": case.wallet_id,
        "backup_set_id": inputs(16).hex(),
        "share_role": case.share_role,
        "key_epoch": case.key_epoch,
    }
    if version == 2:
        context["revision"] = case.revision
    context["share_commitment"] = hashlib.sha256(share).hexdigest() if case.commitment else None
    described: list[dict[str, Any]] = []
    secrets: list[bytes] = []
    kms_key = None
    for kind, args in case.methods:
        stanza_id, secret = inputs(16), inputs(32)
        secrets.append(secret)
        r = {
            "type": kind,
            "id": stanza_id.hex(),
            "args": args,
            "method_secret": secret.hex(),
            "recipient": recipient_key(secret, stanza_id).hex(),
        }
        if version == 2:
            r["auth_key"] = auth_key(secret, stanza_id).hex()
        described.append(r)
    if not case.methods:
        stanza_id, kms_key = inputs(16), inputs(32)
        args = FixedKeyKms(kms_key, Replay(b"")).stanza_args()
        described.append({"type": "kms", "id": stanza_id.hex(), "args": args})
    for_seal = [dict(r, kms_key=kms_key.hex()) if kms_key else r for r in described]
    nonces = Recording(SeededStream(seed + b"kms nonces/" + case.name.encode()))
    rng = Recording(SeededStream(seed + b"rng/" + case.name.encode()))
    if version == 1:
        data, backup_key = spec_seal(1, header_context(context, 1), share, for_seal, rng, nonces)
    else:
        vector_so_far = {"recipients": for_seal}
        data, backup_key = envelope.seal(
            library_context(context), share, library_recipients(vector_so_far, nonces), rng=rng
        )
        from_spec = spec_seal(
            2,
            header_context(context, 2),
            share,
            for_seal,
            Replay(rng.drawn),
            Replay(nonces.drawn),
        )
        if from_spec != (data, backup_key):
            raise AssertionError(f"{case.name}: the library and the spec disagree")
    if kms_key is not None:
        described[0].update(kms_key=kms_key.hex(), kms_nonce=nonces.drawn.hex())
    hend = header_end(data)
    expected: dict[str, Any] = {
        "envelope_id": rng.drawn[:32].hex(),
        "backup_key": backup_key.hex(),
    }
    if version == 2:
        header = header_of(data)
        core = canon({**header, "stanzas": [_untagged(s) for s in header["stanzas"]]})
        entries = b"".join(
            bytes.fromhex(r["id"]) + bytes.fromhex(r["auth_key"])
            for r in described
            if "auth_key" in r
        )
        expected["header_core"] = core.decode("utf-8")
        expected["payload_plaintext"] = (bytes([len(case.methods)]) + entries + share).hex()
        expected["tags"] = [
            _hex(unb64u(s["tag"])) if "tag" in s else None for s in header["stanzas"]
        ]
    expected.update(
        header=data[14:hend].decode("utf-8"),
        header_mac=data[hend : hend + 32].hex(),
        envelope=data.hex(),
        armored=envelope.armor(data),
    )
    vector = {
        "name": case.name,
        "description": case.description,
        "context": context,
        "share": share.hex(),
        "recipients": described,
        "rng": rng.drawn.hex(),
        "expected": expected,
    }
    return Built(version, vector, data, backup_key, share, tuple(secrets), kms_key)


def _hex(value: bytes | None) -> str:
    assert value is not None  # the library wrote it
    return value.hex()


def _untagged(stanza: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stanza.items() if k != "tag"}


def built(name: str, version: int = 2) -> Built:
    return build(next(case for case in CASES[version] if case.name == name), version)
