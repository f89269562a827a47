"""The pipeline's own processes: `signal-sendgrid db upgrade` (release), `publish` and `ingest`."""

from __future__ import annotations

import contextlib
import sys
from typing import IO

import click

from config.settings import ConfigError, hide_password, load_settings
from models.db import database_url, session_factory
from workers.cli.common import ready_settings


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
    from workers.ingest.wire import PublishReport, connect, declare, parse_lines, publish_events

    settings = load_settings()
    report = PublishReport()
    with connect(settings.broker_url) as connection:
        try:
            connection.ensure_connection(max_retries=2)
        except connection.connection_errors as e:
            raise ConfigError(f"BROKER_URL is unreachable ({e}): {hide_password(settings.broker_url)}") from e
        declare(connection)
        publish_events(connection, parse_lines(source, report), report)
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
    from workers.tasks import trigger_processing

    settings = ready_settings()
    consumer = IngestConsumer(
        connect_consumer(settings.broker_url), session_factory(), trigger_processing, batch_size, batch_ms
    )
    click.echo(f"ingesting from {hide_password(settings.broker_url)} in batches of {batch_size}/{batch_ms} ms")
    with contextlib.suppress(KeyboardInterrupt):
        consumer.run(idle_exit_seconds=idle_exit)
    click.echo(f"stored {consumer.stored} messages")
