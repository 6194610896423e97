"""The audit log's command: ``prune-audit`` (retention, with an optional archive)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import click

from .config import open_backup
from .output import emit_json


def _time(ctx: click.Context, param: click.Parameter, value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date or time, e.g. 2026-01-01 or 2026-01-01T12:00+02:00"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@click.command("prune-audit")
@click.option(
    "--before",
    required=True,
    callback=_time,
    metavar="TIME",
    help="Remove the events recorded before TIME: an ISO 8601 date or time, UTC unless it "
    "gives a zone (2026-01-01, 2026-01-01T12:00+02:00).",
)
@click.option(
    "--archive",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="First write those events to FILE (new, mode 0600), one JSON object per line; only "
    "what was written is removed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def prune_audit(ctx: click.Context, before: datetime, archive: str | None, as_json: bool) -> None:
    """Remove old audit events from the store.

    Events that stay keep their place in the log, so readers that page through it carry on.
    With --archive, the events are kept in FILE first.
    """
    wb = open_backup(ctx, operator=True)
    if archive is None:
        pruned = wb.prune_audit(before)
    else:
        try:
            fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise click.BadParameter(
                f"{archive} exists; name a new file", param_hint="'--archive'"
            ) from None
        with os.fdopen(fd, "wb") as f:
            pruned = wb.prune_audit(before, archive=f)
    when = before.isoformat()
    if as_json:
        emit_json({"pruned": pruned, "before": when, "archive": archive})
        return
    click.echo(
        f"pruned {pruned} audit event{'' if pruned == 1 else 's'} recorded before {when}"
        + (f"; archived in {archive}" if archive else "")
    )


COMMANDS = (prune_audit,)
