"""`signal-sendgrid events`: events of the inbox by status with their reasons (rejected ones by default)."""

from __future__ import annotations

import json

import click

from models import EventStatus
from models.db import session_scope
from workers.cli.common import ready_settings
from workers.services.vocabulary import EVENT_STATUSES


@click.command()
@click.option("--status", type=click.Choice([s.value for s in EVENT_STATUSES]), default="rejected", show_default=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def events(status: str, limit: int, as_json: bool) -> None:
    """Events with this status, newest first, with why (a rejected event was bad input; a conflicting one
    re-used a stored messageId with a different event: both events' sha256 digests are shown)."""
    from workers.services.events import list_events

    ready_settings()
    with session_scope() as session:
        rows = list_events(session, EventStatus(status), limit)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"no {status} events")
        return
    if status == EventStatus.CONFLICTING:
        this, stored = "this event (sha256)", "stored event (sha256)"
        click.echo(f"{'id':>8}  {'received':<19}  {'type':<10} {this:<64}  {stored:<64}  reason")
        for r in rows:
            click.echo(
                f"{r.id:>8}  {r.received_at:%Y-%m-%d %H:%M:%S}  {(r.type or '-')[:10]:<10} {r.digest or '-':<64}  "
                f"{r.conflicts_with or '-':<64}  {r.reason or '-'}"
            )
        return
    click.echo(f"{'id':>8}  {'received':<19}  {'type':<10} {'message id':<36}  reason")
    for r in rows:
        click.echo(
            f"{r.id:>8}  {r.received_at:%Y-%m-%d %H:%M:%S}  {(r.type or '-')[:10]:<10} {r.message_id[:36]:<36}  "
            f"{r.reason or '-'}"
        )
