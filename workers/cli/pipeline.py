"""The pipeline's own processes: `signal-sendgrid db upgrade` (release), `publish` and `ingest`."""

from __future__ import annotations

import contextlib
import sys
from typing import IO

import click

from config.settings import hide_password, load_settings
from models.db import database_url, session_factory
from workers.cli.common import broker_connection, ready_settings
from workers.failures import broker_error, broker_errors


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to DATABASE_URL."""
    settings = ready_settings(migrate=True)
    click.echo(f"database at head: {hide_password(database_url(settings))}")


@click.command()
@click.argument("source", type=click.File("r", encoding="utf-8", errors="surrogateescape"), default="-")
def publish(source: IO[str]) -> None:
    """Publish newline-delimited JSON events from FILE (or stdin) to datafly.events, with confirms."""
    from workers.ingest.wire import PublishReport, declare, parse_lines, publish_events
    from workers.services.intake import envelope_problem  # what POST /v1/events refuses, in the same words

    settings = load_settings()
    report = PublishReport()
    with broker_connection(settings.broker_url) as connection:
        try:
            declare(connection)
            publish_events(connection, parse_lines(source, report, envelope_problem), report)
        except broker_errors() as e:  # the broker went away, or refused the declaration
            raise broker_error(settings.broker_url, e) from e
    for number, problem in report.bad_lines:
        click.echo(f"line {number}: {problem}; not published", err=True)
    click.echo(f"{report.confirmed} events published and confirmed, {len(report.bad_lines)} lines rejected")
    if report.bad_lines:
        sys.exit(1)


@click.command()
@click.option("--batch-size", default=1000, show_default=True)
@click.option("--batch-ms", default=200, show_default=True)
@click.option("--idle-exit", type=float, help="Exit after the queue stayed empty this many seconds.")
def ingest(batch_size: int, batch_ms: int, idle_exit: float | None) -> None:
    """Consume signal.sendgrid.events into the event inbox and trigger processing."""
    from workers.ingest.consumer import IngestConsumer
    from workers.ingest.wire import connect_consumer
    from workers.services.triggers import processing_now

    settings = ready_settings()
    consumer = IngestConsumer(
        connect_consumer(settings.broker_url),
        session_factory(),
        processing_now,
        batch_size,
        batch_ms,
        broker_url=settings.broker_url,
    )
    click.echo(f"ingesting from {hide_password(settings.broker_url)} in batches of {batch_size}/{batch_ms} ms")
    with contextlib.suppress(KeyboardInterrupt):
        consumer.run(idle_exit_seconds=idle_exit)
    click.echo(f"stored {consumer.stored} messages")
