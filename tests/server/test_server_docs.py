"""docs/server.md's webhook receiver, run as the page writes it, as a tenant's real backend."""

from __future__ import annotations

from typing import Any

from doc_blocks import run_page
from quick_methods import PASS
from service_http import bearer
from webhook_receiver import receiving

from walletbackup_server.tenant_webhooks import TenantWebhooks


def test_the_pages_receiver_keeps_the_share_and_hears_of_an_eject(world, tmp_path):
    page: dict[str, Any] = {}

    def handle(path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        answer: tuple[int, Any] = page["handle"](path, headers, body)
        return answer

    notified: list[dict[str, Any]] = []
    with receiving(handle=handle) as receiver:
        secret = TenantWebhooks(world.state, world.custodian.kms).set("acme", receiver.url)
        page |= run_page(
            "docs/server.md", tmp_path, {"webhook_secret": secret, "notify_user": notified.append}
        )
        with world.device(mode="self-managed") as wb:
            result = wb.backup_wallet(
                "w", b"c" * 32, method=PASS, passphrase="pw", custodian_share=b"s" * 32
            )
            wb.stored_client_backup_share("w", PASS, success=True)
            recovered = wb.recover_wallet(
                "w", method=PASS, passphrase="pw", cipher_text=result.cipher_text
            )
        prepared = world.client.post(
            "/v1/wallets/w/eject/prepare", json={}, headers=bearer(world.creds["alice"])
        )
    assert (recovered.client_share, recovered.custodian_share) == (b"c" * 32, None)
    assert list(page["envelopes"]) == [("alice", "w", 1)]
    assert prepared.status_code == 202
    assert [(e["type"], e["wallet_id"]) for e in notified] == [("eject.prepared", "w")]
