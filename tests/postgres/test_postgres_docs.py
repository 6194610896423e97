"""docs/postgres.md runs as written, on a database of the test's own; its pg_dump recipe too."""

from __future__ import annotations

import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from doc_blocks import ROOT, fences, run_page
from postgres_cluster import PostgresCluster

from walletbackup_postgres import PostgresStore

PAGE = "docs/postgres.md"


def test_postgres_page(
    postgres_cluster: PostgresCluster, database_url: str, tmp_path: Path
) -> None:
    namespace = run_page(PAGE, tmp_path, {"url": database_url})
    assert postgres_cluster.password not in str(namespace["wb"].custodian.location)


def test_the_backup_recipe_restores_the_namespace(
    postgres_cluster: PostgresCluster, database_url: str, tmp_path: Path
) -> None:
    store = PostgresStore(database_url)
    other = PostgresStore(f"{database_url}?namespace=walletbackup_server")
    try:
        store.save("wallet-1", b"document")
        other.save("tenant", b"server state")
        seq = store.append_audit(b"record", wallet_id="wallet-1", at=store_time())
    finally:
        store.close()
        other.close()
    recipe = next(f for f in fences((ROOT / PAGE).read_text()) if "pg_dump" in "\n".join(f.body))
    restored_url = postgres_cluster.create_database("restored")
    commands = "\n".join(recipe.body).replace("\\\n", " ").splitlines()
    bindir = postgres_cluster.bindir
    variables = {"$DATABASE_URL": database_url, "$NEW_DATABASE_URL": restored_url}
    for line in commands:
        command = line
        for name, value in variables.items():
            command = command.replace(f'"{name}"', shlex.quote(value))
        argv = shlex.split(command)
        subprocess.run([str(bindir / argv[0]), *argv[1:]], cwd=tmp_path, check=True)
    restored = PostgresStore(restored_url)
    try:
        assert restored.load("wallet-1") == b"document"
        assert [e.seq for e in restored.audit_records()] == [seq]
        assert restored.append_audit(b"next", wallet_id=None, at=store_time()) > seq
    finally:
        restored.close()
    tables = postgres_cluster.admin(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        "restored",
    )
    assert sorted(str(row[0]) for row in tables) == [
        "walletbackup_audit",
        "walletbackup_documents",
        "walletbackup_meta",
    ]


def store_time() -> datetime:
    return datetime.now(UTC)
