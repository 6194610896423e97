"""docs/methods/passkey.md runs as written (its non-interactive example), on a software key.

The page's first example waits for a person (a USB key's touch and PIN, a browser's passkey
prompt) and is marked as not run; the browser and security-key tests of this directory cover
those paths with a scripted person.
"""

from __future__ import annotations

from pathlib import Path

from doc_blocks import run_page
from passkey_support import PIN
from soft_authenticator import SoftAuthenticator

from walletbackup import WalletBackup, split_secret

CLIENT, CUSTODIAN = split_secret(bytes(range(32)))


def test_passkey_method_page(tmp_path: Path, key: SoftAuthenticator) -> None:
    # "a WalletBackup named wb and the wallet's two shares"; then "a fido2 device (ctap_device)
    # and its PIN".
    given = {
        "wb": WalletBackup(),
        "client_share": CLIENT,
        "custodian_share": CUSTODIAN,
        "ctap_device": key,
        "pin": PIN,
    }
    run_page("docs/methods/passkey.md", tmp_path, given)
    with WalletBackup() as wb:
        assert wb.available_recovery_methods("wallet-2") == ["passkey"]
