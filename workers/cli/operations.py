"""Watching and repairing delivery: `signal-sendgrid deliveries` (Live Events), `stats` and `replay`."""

from __future__ import annotations

import json

import click

from models.db import session_scope
from workers.cli.common import ready_settings
from workers.services.vocabulary import REPLAYABLE, TIMELINE_STATUSES, parse_time


class IsoTime(click.ParamType):
    """A time option read by the one time parser (ISO 8601, `Z` allowed, naive is UTC)."""

    name = "TIME"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        from datetime import datetime

        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


@click.command()
@click.option(
    "--status",
    type=click.Choice([str(s) for s in TIMELINE_STATUSES]),
    help="Only this status; rejected: events refused at processing.",
)
@click.option("--type", "event_type", help="identify, page, product_viewed, order_completed, track (other tracks).")
@click.option("--integration", "integration_id", type=int, help="Only this integration.")
@click.option("--search", "q", help="A message id (exactly), otherwise an email (exact or a prefix).")
@click.option("--since", type=IsoTime(), help="Decided at or after this time.")
@click.option("--until", type=IsoTime(), help="Decided before this time.")
@click.option("--cursor", help="The next page: the cursor the previous one printed.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def deliveries(status, event_type, integration_id, q, since, until, cursor, limit, as_json) -> None:  # noqa: ANN001
    """Live Events: deliveries and rejected events, newest first (the console's and the API's query)."""
    from workers.services.timeline import Cursor, FilterError, TimelineFilter, timeline

    try:
        flt = TimelineFilter(status, event_type, integration_id, since, until, q)
        after = Cursor.decode(cursor) if cursor else None
    except FilterError as e:
        raise click.BadParameter(str(e), param_hint="--cursor") from e
    ready_settings()
    with session_scope() as session:
        page = timeline(session, flt, after, limit=limit)
    more = f"older rows: --cursor {page.next.encode()}" if page.next else None
    if as_json:
        click.echo(json.dumps([{**r.__dict__, "time": r.time.isoformat()} for r in page.rows], indent=2))
        if more:
            click.echo(more, err=True)
        return
    click.echo(f"{'time':<19}  {'event':<16} {'message id':<24} {'email':<28} {'status':<14} code tries  error")
    for r in page.rows:
        click.echo(
            f"{r.time:%Y-%m-%d %H:%M:%S}  {(r.kind or r.event_type or '-')[:16]:<16} {r.message_id[:24]:<24} "
            f"{(r.email or '-')[:28]:<28} {r.status:<14} {r.status_code or '-':>4} {r.attempts:>5}  {r.error or ''}"
        )
    if more:
        click.echo(more)


@click.command()
@click.option("--json", "as_json", is_flag=True)
def stats(as_json: bool) -> None:
    """Counts by status: events received and rejected; deliveries queued, sent, succeeded, failed, skipped; and
    the storage each table takes."""
    from workers.services.reports import stats as compute
    from workers.services.reports import table_sizes

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


@click.command()
@click.option("--status", type=click.Choice([str(s) for s in REPLAYABLE]), default="failed", show_default=True)
@click.option("--since", type=IsoTime(), help="Only deliveries last changed at or after this time.")
@click.option("--until", type=IsoTime(), help="Only deliveries last changed at or before this time.")
@click.option("--integration", "integration_id", type=int, help="Only this integration.")
@click.option("--event-type", help="identify, page, track, or a track kind such as order_completed.")
@click.option("--message-id", "message_ids", multiple=True, help="Only these events (repeatable).")
@click.option("--remap", is_flag=True, help="Map the stored events again with the current configuration.")
@click.option("--dry-run", is_flag=True, help="Count what would be replayed, change nothing.")
def replay(status, since, until, integration_id, event_type, message_ids, remap, dry_run) -> None:
    """Re-queue failed, import_errored or skipped deliveries through the normal pipeline."""
    from workers.services.deliveries import ReplayFilter, replay_by_filter

    ready_settings()
    flt = ReplayFilter(status, since, until, integration_id, event_type, list(message_ids))
    with session_scope() as session:
        result = replay_by_filter(session, flt, remap=remap, dry_run=dry_run)
    if dry_run:
        click.echo(f"matched {result.matched} deliveries; dry run: nothing re-queued")
        return
    click.echo(f"matched {result.matched} deliveries, re-queued {result.requeued}")
