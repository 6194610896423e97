"""Regenerate the envelope test vectors (deterministic: two runs write identical bytes).

    .venv/bin/python tests/vectors/generate.py

writes, for each format version N in 1 and 2, tests/vectors/envelope_vN.json (known answers)
and tests/vectors/invalid/envelope_vN.json (named invalid envelopes). Version 2 is sealed by the
library and cross-checked against an independent implementation of docs/format.md
(vector_support.py); version 1, which the library only reads now, comes from that independent
implementation alone and must not change. The tests never run this script; they check the
committed files against the library.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from invalid_cases import invalid_vectors
from vector_cases import CASES, build

HERE = Path(__file__).resolve().parent


def valid_path(version: int) -> Path:
    return HERE / f"envelope_v{version}.json"


def invalid_path(version: int) -> Path:
    return HERE / "invalid" / f"envelope_v{version}.json"


NOTES = {
    1: (
        "hex unless noted; 'rng' is every byte seal() drew, in order (envelope_id, backup key, "
        "one ephemeral secret per method stanza); a kms recipient's test KMS blob is "
        "kms_nonce (12) || AES-256-GCM(kms_key, kms_nonce, backup key, aad = stanza AAD)"
    ),
    2: (
        "hex unless noted; 'rng' is every byte seal() drew, in order (envelope_id, backup key, "
        "one ephemeral secret per method stanza); a kms recipient's test KMS blob is "
        "kms_nonce (12) || AES-256-GCM(kms_key, kms_nonce, backup key, aad = stanza AAD); "
        "expected.header_core is the header without tags, expected.payload_plaintext is "
        "count || (stanza id || auth key)* || share, expected.tags is one tag per stanza "
        "(null for kms)"
    ),
}
INVALID_NOTES = {
    1: (
        "expect 'malformed': parse raises MalformedBackup. expect 'unlock_failed': parse "
        "succeeds; opening stanza 0 with 'secret' (method secret) or 'kms_key' (test KMS of "
        "envelope_v1.json) and then the payload raises UnlockFailed"
    ),
    2: (
        "expect 'malformed': parse raises MalformedBackup. expect 'unlock_failed': parse "
        "succeeds; unlocking stanza 0 with 'secret' (method secret) or 'kms_key' (test KMS of "
        "envelope_v2.json) raises UnlockFailed when fails_at is 'unlock'; when it is 'open', "
        "unlocking succeeds and open_with_key raises UnlockFailed"
    ),
}


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    for version in (1, 2):
        title = f"walletbackup envelope v{version} (docs/format.md)"
        valid = {
            "format": title,
            "note": NOTES[version],
            "vectors": [build(case, version).vector for case in CASES[version]],
        }
        invalid = {
            "format": title,
            "note": INVALID_NOTES[version],
            "vectors": invalid_vectors(version),
        }
        invalid_path(version).parent.mkdir(exist_ok=True)
        valid_path(version).write_text(_dump(valid), encoding="utf-8")
        invalid_path(version).write_text(_dump(invalid), encoding="utf-8")
        print(
            f"wrote {valid_path(version)} ({len(valid['vectors'])} vectors), "
            f"{invalid_path(version)} ({len(invalid['vectors'])} vectors)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
