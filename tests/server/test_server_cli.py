"""``walletbackup serve`` and ``walletbackup server ...`` as real processes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from service_http import bearer

LINE = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))\n")
START_TIMEOUT = 30


def walletbackup(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "walletbackup", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "walletbackup", "serve", "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    match = LINE.fullmatch(line)
    if match is None:
        process.kill()
        raise AssertionError(f"no address line: {line!r} {process.communicate()[1]}")
    return process, match.group(1)


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM; the exit code and what else it printed on stdout."""
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=START_TIMEOUT)
    return process.returncode, out


@pytest.mark.slow
def test_serve_on_the_embedded_default_then_sigterm(private_home: Path):
    process, url = start()
    try:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        # The KMS key was made on the first start, so the service is ready at once.
        assert httpx.get(f"{url}/readyz").json()["ready"] is True
    finally:
        code, rest = stop(process)
    assert (code, rest) == (0, "")  # exit 0, and exactly one line on stdout
    data = private_home / ".local/share/walletbackup"
    assert {p.name for p in data.iterdir()} >= {"backups.db", "backups-server.db", "custodian.key"}


@pytest.mark.slow
def test_a_tenant_key_made_by_add_tenant_mints_tokens(tmp_path: Path):
    store = f"sqlite://{tmp_path / 'custodian.db'}"
    kms = f"local://{tmp_path / 'custodian.key'}"
    made = walletbackup("server", "add-tenant", "acme", "--store", store, "--json")
    assert made.returncode == 0, made.stderr
    keys = json.loads(made.stdout)
    assert keys["backend_key"].startswith("wbk_")
    assert keys["custodian_credential"].startswith("wbc_")

    config = tmp_path / "server.toml"
    config.write_text(f'store = "{store}"\nkms = "{kms}"\ntoken_ttl_seconds = 120\n')
    process, url = start("--config", str(config))
    try:
        answer = httpx.post(
            f"{url}/v1/tokens", json={"user": "alice"}, headers=bearer(keys["backend_key"])
        )
        assert answer.status_code == 201
        token = answer.json()["token"]
        me = httpx.get(f"{url}/v1/me", headers=bearer(token)).json()
        assert me == {"tenant": "acme", "role": "device", "user": "alice"}
        node = httpx.get(f"{url}/v1/me", headers=bearer(keys["custodian_credential"])).json()
        assert node["role"] == "custodian"
    finally:
        assert stop(process) == (0, "")

    # Only hashes are kept: no credential is in the server's store in clear.
    state = (tmp_path / "custodian-server.db").read_bytes()
    for secret in (keys["backend_key"], keys["custodian_credential"], token):
        assert secret.encode() not in state
        assert secret[4:].encode() not in state
    assert (
        not (tmp_path / "custodian.db").exists()
        or keys["backend_key"].encode() not in (tmp_path / "custodian.db").read_bytes()
    )


def test_tenant_administration(tmp_path: Path):
    state = ["--state", f"sqlite://{tmp_path / 'state.db'}"]
    made = json.loads(walletbackup("server", "add-tenant", "acme", *state, "--json").stdout)
    again = walletbackup("server", "add-tenant", "acme", *state)
    assert again.returncode == 7
    assert "exists already" in again.stderr
    extra = walletbackup("server", "add-credential", "acme", "--role", "custodian", *state)
    assert extra.returncode == 0
    assert "wbc_" in extra.stdout

    listing = json.loads(walletbackup("server", "tenants", *state, "--json").stdout)
    (tenant,) = listing["tenants"]
    assert tenant["id"] == "acme"
    assert sorted(c["role"] for c in tenant["credentials"]) == ["backend", "custodian", "custodian"]
    text = json.dumps(listing) + walletbackup("server", "tenants", *state).stdout
    assert made["backend_key"] not in text
    assert "wbk_" not in text
    assert "wbc_" not in text

    revoked = walletbackup("server", "revoke-credential", "acme", made["backend_key_id"], *state)
    assert revoked.returncode == 0
    listing = json.loads(walletbackup("server", "tenants", *state, "--json").stdout)
    assert made["backend_key_id"] not in {c["id"] for c in listing["tenants"][0]["credentials"]}
    missing = walletbackup("server", "revoke-credential", "acme", "0" * 16, *state)
    assert missing.returncode == 4


def test_a_bad_listen_address_is_a_usage_error():
    result = walletbackup("serve", "--listen", "nowhere")
    assert result.returncode == 2
    assert "HOST:PORT" in result.stderr


def test_unknown_config_keys_are_refused(tmp_path: Path):
    config = tmp_path / "server.toml"
    config.write_text('listen = "127.0.0.1:0"\nstorage = "x"\n')
    result = walletbackup("serve", "--config", str(config))
    assert result.returncode == 2
    assert "unknown key(s) storage" in result.stderr


@pytest.mark.slow
def test_set_webhook_prints_its_secret_once_and_keeps_it_sealed(tmp_path: Path):
    from walletbackup.custodian import open_kms
    from walletbackup_server import ServerState
    from walletbackup_server.tenant_webhooks import TenantWebhooks

    store = f"sqlite://{tmp_path / 'custodian.db'}"
    kms = f"local://{tmp_path / 'custodian.key'}"
    open_kms(kms).create_key()
    assert walletbackup("server", "add-tenant", "acme", "--store", store).returncode == 0
    url = "https://backend.example/hooks"
    made = walletbackup("server", "set-webhook", "acme", url, "--store", store, "--kms", kms)
    assert made.returncode == 0, made.stderr
    (secret,) = re.findall(r"wbw_[A-Za-z0-9_-]{43}", made.stdout)
    state = ServerState.open(f"sqlite://{tmp_path / 'custodian-server.db'}")
    try:
        assert secret not in json.dumps(state.load("webhook/acme"))
        found = TenantWebhooks(state, open_kms(kms)).find("acme")
        assert (found.url, found.secret) == (url, secret)
    finally:
        state.close()
    refused = walletbackup("server", "set-webhook", "acme", "ftp://h/", "--store", store,
                           "--kms", kms)  # fmt: skip
    assert refused.returncode != 0
    assert "webhook URL" in refused.stderr


@pytest.mark.parametrize("option", ["--store", "--state"])
def test_a_password_never_goes_on_the_command_line(option: str):
    result = walletbackup("serve", option, "postgresql://walletbackup:hunter2@127.0.0.1:1/db")
    assert result.returncode == 2
    assert "PGPASSFILE" in result.stderr
    assert "hunter2" not in result.stderr


def test_a_config_file_with_a_password_is_for_its_owner_only(tmp_path: Path):
    config = tmp_path / "server.toml"
    config.write_text('store = "postgresql://walletbackup:hunter2@127.0.0.1:1/db"\n')
    config.chmod(0o644)
    result = walletbackup("serve", "--config", str(config))
    assert result.returncode == 2
    assert f"chmod 600 {config}" in result.stderr
    assert "hunter2" not in result.stderr
