"""Watching and repairing delivery: `signal-sendgrid deliveries` (Live Events), `stats` and `replay`."""

from __future__ import annotations

import json

import click

from models.db import session_scope
from workers.cli.common import flush_after_commit, ready_settings


@click.command()
@click.option("--status", help="Only deliveries with this status.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def deliveries(status: str | None, limit: int, as_json: bool) -> None:
    """Live Events: the newest deliveries first."""
    from models import DeliveryStatus
    from workers.admin.reports import live_events

    if status and status not in {s.value for s in DeliveryStatus}:
        raise click.BadParameter(f"one of {', '.join(s.value for s in DeliveryStatus)}", param_hint="--status")
    ready_settings()
    with session_scope() as session:
        rows = live_events(session, status=status, limit=limit)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    click.echo(f"{'time':<19}  {'event':<16} {'message id':<24} {'email':<28} {'status':<14} code tries  error")
    for r in rows:
        click.echo(
            f"{r.time:%Y-%m-%d %H:%M:%S}  {(r.event_type or '-')[:16]:<16} {r.message_id[:24]:<24} "
            f"{(r.email or '-')[:28]:<28} {r.status:<14} {r.status_code or '-':>4} {r.attempts:>5}  {r.error or ''}"
        )


@click.command()
@click.option("--json", "as_json", is_flag=True)
def stats(as_json: bool) -> None:
    """Counts by status: events received and rejected; deliveries queued, sent, succeeded, failed, skipped; and
    the storage each table takes."""
    from workers.admin.reports import stats as compute
    from workers.privacy.retention import table_sizes

    ready_settings()
    with session_scope() as session:
        counts = compute(session)
        sizes = table_sizes(session)  # bytes per table, indexes and TOAST included
    if as_json:
        click.echo(json.dumps({**counts, "storage_bytes": sizes}, indent=2))
        return
    for group, values in counts.items():
        click.echo(group + ": " + ", ".join(f"{k} {v}" for k, v in values.items()))
    click.echo("storage: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.items()))


class IsoTime(click.ParamType):
    name = "TIME"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        from datetime import UTC, datetime

        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time (e.g. 2026-11-26T03:00:00Z)", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.command()
@click.option(
    "--status", type=click.Choice(["failed", "import_errored", "skipped"]), default="failed", show_default=True
)
@click.option("--since", type=IsoTime(), help="Only deliveries last changed at or after this time.")
@click.option("--until", type=IsoTime(), help="Only deliveries last changed at or before this time.")
@click.option("--integration", "integration_id", type=int, help="Only this integration.")
@click.option("--event-type", help="identify, page, track, or a track kind such as order_completed.")
@click.option("--message-id", "message_ids", multiple=True, help="Only these events (repeatable).")
@click.option("--remap", is_flag=True, help="Map the stored events again with the current configuration.")
@click.option("--dry-run", is_flag=True, help="Count what would be replayed, change nothing.")
def replay(status, since, until, integration_id, event_type, message_ids, remap, dry_run) -> None:
    """Re-queue failed, import_errored or skipped deliveries through the normal pipeline."""
    from workers.processing.replay import ReplayFilter, replay_deliveries

    ready_settings()
    flt = ReplayFilter(status, since, until, integration_id, event_type, list(message_ids))
    with session_scope() as session:
        result = replay_deliveries(session, flt, remap=remap, dry_run=dry_run)
        if dry_run:
            session.rollback()
        else:
            flush_after_commit(session, result.integrations)
    if dry_run:
        click.echo(f"matched {result.matched} deliveries; dry run: nothing re-queued")
        return
    click.echo(f"matched {result.matched} deliveries, re-queued {result.requeued}")
