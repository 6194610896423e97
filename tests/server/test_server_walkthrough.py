"""The newcomer's walkthrough of docs/server.md, as the commands it gives, each a process.

``walletbackup serve --listen 127.0.0.1:0`` on the embedded default with a private HOME,
``walletbackup server add-tenant acme``, ``POST /v1/tokens`` with the backend key, then a device
process that backs up and a third process that recovers. Then the same on PostgreSQL with two
replicas, the device code being the page's own Python block (with the password method, as
written), backing up through one replica and recovering through the other.

PKCS#11 (SoftHSM2) for the custodian key: see the marked place in the PostgreSQL walkthrough.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from doc_blocks import ROOT, fences
from postgres_cluster import PostgresCluster, cluster_for
from quick_methods import FIXTURES, PASS, QUICK_DIST
from service_processes import (
    add_tenant,
    mint_token,
    password_to_env,
    serve,
    server_env,
)
from softhsm_token import SoftHsmToken

from walletbackup_server.config import ServerConfig, load

PAGE = ROOT / "docs" / "server.md"
SHARE, CUSTODIAN = "client share of the newcomer", "custodian share of the newcomer"
PASSWORD = "correct horse battery staple, twice over"

#: A device process: backs up (``backup``) or recovers (``recover``) with the fast test method.
DEVICE = """
import sys
from walletbackup import WalletBackup

action, url, token = sys.argv[1:4]
wb = WalletBackup(custodian=url, token=token)
if action == "backup":
    done = wb.backup_wallet("wallet-1", {share!r}.encode(), method={method!r},
                            custodian_share={custodian!r}.encode(), passphrase={password!r})
    print(done.revision)
else:
    recovered = wb.recover_wallet("wallet-1", method={method!r}, passphrase={password!r})
    print(recovered.client_share.decode(), recovered.custodian_share)
"""


def device(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def quick_device_env() -> dict[str, str]:
    """The device's environment: the fast test method installed alone (plugins/quick)."""
    path = os.pathsep.join([str(FIXTURES), str(QUICK_DIST)])
    return server_env({"PYTHONPATH": path, "WALLETBACKUP_PLUGINS": "quick"})


def test_walkthrough_on_the_embedded_default(private_home: Path) -> None:
    keys = add_tenant("acme")  # walletbackup server add-tenant acme
    replica = serve()  # walletbackup serve --listen 127.0.0.1:0
    try:
        token = mint_token(replica.url, keys["backend_key"], "alice")
        script = DEVICE.format(share=SHARE, custodian=CUSTODIAN, method=PASS, password=PASSWORD)
        env = quick_device_env()
        assert device(script, "backup", replica.url, token, env=env) == "1"
        assert device(script, "recover", replica.url, token, env=env) == f"{SHARE} None"
    finally:
        assert replica.stop() == 0
    data = private_home / ".local/share/walletbackup"
    assert {"backups.db", "backups-server.db", "custodian.key"} <= {p.name for p in data.iterdir()}


def docs_device_block() -> str:
    """The page's Python block of a device (backup then recovery), as a newcomer copies it."""
    (block,) = (
        "\n".join(f.body)
        for f in fences(PAGE.read_text())
        if f.info.strip() == "python" and "WalletBackup(custodian=" in "\n".join(f.body)
    )
    return block


@pytest.mark.cross_plugin
@pytest.mark.slow
def test_walkthrough_on_postgres_and_softhsm2_with_two_replicas(
    private_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    softhsm_token: SoftHsmToken,
) -> None:
    with cluster_for("the PostgreSQL walkthrough steps") as cluster:
        libpq: dict[str, str] = {}
        store = password_to_env(cluster.create_database("walkthrough"), libpq)
        monkeypatch.setenv("PGPASSWORD", libpq["PGPASSWORD"])  # the processes inherit it
        stores = ("--store", store)  # the state: the same database, its own namespace
        keys = add_tenant("acme", *stores)
        # The custodian key in an HSM (SoftHSM2), made in the ceremony of docs/pkcs11.md: generated
        # in the token, never extractable; both replicas reach it through the same URL.
        from walletbackup_pkcs11 import Pkcs11Kms

        kms_url = softhsm_token.url()
        Pkcs11Kms(kms_url).create_key()
        kms = ("--kms", kms_url)
        replicas = [serve(*stores, *kms) for _ in range(2)]
        try:
            token = mint_token(replicas[0].url, keys["backend_key"], "alice")
            block = docs_device_block().replace("http://127.0.0.1:8080", replicas[0].url)
            given = {"token": token, "password": PASSWORD}
            given |= {"client_share": SHARE.encode(), "custodian_share": CUSTODIAN.encode()}
            preamble = "".join(f"{name} = {value!r}\n" for name, value in given.items())
            script = f"{preamble}{block}\n"
            script += "print(recovered.client_share.decode(), recovered.custodian_share)\n"
            env = server_env()
            assert device(script, env=env) == f"{SHARE} None"
            # A third process recovers through the other replica.
            recover = (
                "import sys\nfrom walletbackup import WalletBackup\n"
                "wb = WalletBackup(custodian=sys.argv[1], token=sys.argv[2])\n"
                f"r = wb.recover_wallet('wallet-1', method='password', password={PASSWORD!r})\n"
                "print(r.client_share.decode(), r.revision)\n"
            )
            assert device(recover, replicas[1].url, token, env=env) == f"{SHARE} 1"
        finally:
            for replica in replicas:
                assert replica.stop() == 0
        # The wallet in the store's namespace, the tenant in the state's, one database.
        count = "SELECT count(*) FROM {}_documents"
        assert cluster.admin(count.format("walletbackup"), "walkthrough") == [(1,)]
        assert cluster.admin(count.format("walletbackup_server"), "walkthrough") != [(0,)]
        # The page's backup recipe takes both namespaces: restored, the same tables and rows.
        restored = cluster.create_database("restored")
        run_backup_recipe(cluster, store, restored, tmp_path)
        for namespace in ("walletbackup", "walletbackup_server"):
            query = count.format(namespace)
            assert cluster.admin(query, "restored") == cluster.admin(query, "walkthrough")


def run_backup_recipe(cluster: PostgresCluster, url: str, new_url: str, where: Path) -> None:
    """The page's pg_dump / pg_restore block, with the cluster's binaries and these URLs."""
    (block,) = (f for f in fences(PAGE.read_text()) if "pg_dump" in "\n".join(f.body))
    text = "\n".join(line.removeprefix("$ ") for line in block.body).replace("\\\n", " ")
    for line in text.splitlines():
        command = line.replace('"$DATABASE_URL"', shlex.quote(url))
        argv = shlex.split(command.replace('"$NEW_DATABASE_URL"', shlex.quote(new_url)))
        subprocess.run([str(cluster.bindir / argv[0]), *argv[1:]], cwd=where, check=True)


def test_the_config_example_has_every_key(tmp_path: Path) -> None:
    """The page's config file example loads, and names every setting the service has."""
    (block,) = (
        f
        for f in fences(PAGE.read_text())
        if f.info.strip() == "toml" and "postgresql" in "\n".join(f.body)
    )
    config = tmp_path / "server.toml"
    config.write_text("\n".join(block.body))
    loaded = load(str(config))
    assert {f.name for f in fields(ServerConfig)} == set(tomllib.loads(config.read_text()))
    assert loaded.state_url() == loaded.state
