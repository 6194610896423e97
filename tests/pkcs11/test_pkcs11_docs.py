"""docs/pkcs11.md runs as written, on a fresh SoftHSM2 token."""

from __future__ import annotations

from pathlib import Path

from doc_blocks import run_page
from softhsm_token import SoftHsmToken

from walletbackup_pkcs11 import Pkcs11Kms


def test_pkcs11_page(tmp_path: Path, softhsm_token: SoftHsmToken) -> None:
    # The page's reader has "the URL in kms_url" and a custodian store.
    url = softhsm_token.url("walletbackup")
    given = {"kms_url": url, "store_url": f"sqlite://{tmp_path / 'custodian.db'}"}
    namespace = run_page("docs/pkcs11.md", tmp_path, given)
    assert namespace["version"] == 2
    assert Pkcs11Kms(url).key_info().versions == (2,)
