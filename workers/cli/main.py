"""The `signal-sendgrid` command line: install, publish, ingest, watch deliveries, migrate."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from typing import IO

import click
from sqlalchemy import select

from config.secrets import redact
from config.settings import ConfigError, Settings, hide_password, load_settings
from models import Integration
from models.db import check_connection, database_url, get_engine, session_factory, session_scope


class Main(click.Group):
    """Configuration problems end in one readable line and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)


@click.group(cls=Main)
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """signal-sendgrid: Datafly events -> SendGrid Marketing Campaigns contacts, every delivery recorded."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")


def ready_settings(migrate: bool = False) -> Settings:
    """The settings, with the database reachable (the embedded default is migrated when it starts)."""
    settings = load_settings()
    check_connection(get_engine())
    if migrate:
        from models.migrate import upgrade

        upgrade(database_url(settings))
    return settings


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to DATABASE_URL."""
    settings = ready_settings(migrate=True)
    click.echo(f"database at head: {hide_password(database_url(settings))}")


def parse_fields(values: tuple[str, ...]) -> dict[str, str]:
    fields = {}
    for value in values:
        trait, sep, name = value.partition("=")
        if not sep or not trait.strip() or not name.strip():
            raise click.BadParameter(f"{value!r}: expected TRAIT=FIELD_NAME", param_hint="--field")
        fields[trait.strip()] = name.strip()
    return fields


@main.command()
@click.option("--api-key", required=True, envvar="SENDGRID_API_KEY", help="SendGrid API key (Marketing scopes).")
@click.option("--default-list-id", help="List to add identified contacts to.")
@click.option("--name", default="SendGrid", show_default=True)
@click.option("--region", type=click.Choice(["us", "eu"]), default="us", show_default=True)
@click.option("--field", "fields", multiple=True, metavar="TRAIT=FIELD_NAME", help="Map a trait to a custom field.")
@click.option("--user-id-field", help="Custom field that holds the user id (default signal_user_id).")
@click.option("--unsubscribe-group-id", type=int, help="Unsubscribe group for consent withdrawals.")
@click.option("--require-consent", is_flag=True, help="Deliver only events that carry marketing consent.")
def install(api_key, default_list_id, name, region, fields, user_id_field, unsubscribe_group_id, require_consent):
    """Check the key, list and custom fields against SendGrid, then store a new integration."""
    from workers.integrations.install import InstallError, InstallRequest
    from workers.integrations.install import install as do_install

    settings = ready_settings()
    options: dict = {"require_consent": require_consent}
    if user_id_field:
        options["user_id_field"] = user_id_field
    if unsubscribe_group_id is not None:
        options["unsubscribe_group_id"] = unsubscribe_group_id
    request = InstallRequest(
        api_key=api_key,
        name=name,
        default_list_id=default_list_id,
        region=region,
        trait_fields=parse_fields(fields),
        options=options,
    )
    try:
        with session_scope() as session:
            result = do_install(session, request, settings)
            integration_id = result.integration.id
    except InstallError as e:
        click.echo(f"install failed: {redact(str(e), api_key)}", err=True)
        sys.exit(1)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.created_fields:
        click.echo(f"created custom fields: {', '.join(result.created_fields)}", err=True)
    click.echo(integration_id)


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def integrations(ctx: click.Context, as_json: bool) -> None:
    """List installed integrations (API keys masked)."""
    if ctx.invoked_subcommand:
        return
    ready_settings()
    with session_scope() as session:
        rows = [
            {
                "id": i.id,
                "name": i.name,
                "status": i.status.value,
                "api_key": i.api_key_hint,
                "api_url": i.api_url,
                "default_list_id": i.default_list_id,
                "fields": i.field_ids,
                "status_reason": i.status_reason,
            }
            for i in session.scalars(select(Integration).order_by(Integration.id))
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no integrations installed: run `signal-sendgrid install --api-key ...`")
    for row in rows:
        click.echo(f"{row['id']:>4}  {row['name']:<20} {row['status']:<12} key {row['api_key']}  {row['api_url']}")
        if row["status_reason"]:
            click.echo(f"      {row['status_reason']}")


@integrations.command("update-key")
@click.argument("integration_id", type=int)
@click.option("--api-key", prompt=True, hide_input=True, envvar="SENDGRID_API_KEY")
def update_key(integration_id: int, api_key: str) -> None:
    """Replace an integration's API key (checked first) and resume delivery."""
    from workers.integrations.install import InstallError
    from workers.integrations.install import update_key as do_update

    settings = ready_settings()
    try:
        with session_scope() as session:
            integration = session.get(Integration, integration_id)
            if integration is None:
                raise click.ClickException(f"no integration {integration_id}")
            do_update(session, integration, api_key, settings)
    except InstallError as e:
        click.echo(f"update failed: {redact(str(e), api_key)}", err=True)
        sys.exit(1)
    trigger_flush(integration_id)
    click.echo(f"integration {integration_id}: key updated, delivery resumed")


@integrations.command("update")
@click.argument("integration_id", type=int)
@click.option("--default-list-id", help="New default list id.")
@click.option("--resume", is_flag=True, help="Set the integration active again.")
def update_integration(integration_id: int, default_list_id: str | None, resume: bool) -> None:
    """Change an integration's list, or resume it after a configuration error was fixed."""
    from models import IntegrationStatus

    ready_settings()
    with session_scope() as session:
        integration = session.get(Integration, integration_id)
        if integration is None:
            raise click.ClickException(f"no integration {integration_id}")
        if default_list_id is not None:
            integration.default_list_id = default_list_id or None
            resume = True
        if resume:
            integration.status, integration.status_reason = IntegrationStatus.ACTIVE, None
    trigger_flush(integration_id)
    click.echo(f"integration {integration_id} updated")


def trigger_flush(integration_id: int) -> None:
    from workers.tasks import flush_integration_task

    try:
        flush_integration_task.delay(integration_id)
    except Exception as e:  # the sweep flushes it anyway
        click.echo(f"note: could not trigger a flush now ({type(e).__name__}); the sweep will", err=True)


@main.command()
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


@main.command()
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


@main.command()
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


@main.command()
@click.option("--json", "as_json", is_flag=True)
def stats(as_json: bool) -> None:
    """Counts by status: events received and rejected; deliveries queued, sent, succeeded, failed, skipped."""
    from workers.admin.reports import stats as compute

    ready_settings()
    with session_scope() as session:
        counts = compute(session)
    if as_json:
        click.echo(json.dumps(counts, indent=2))
        return
    for group, values in counts.items():
        click.echo(group + ": " + ", ".join(f"{k} {v}" for k, v in values.items()))


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


@main.command()
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
    if dry_run:
        click.echo(f"matched {result.matched} deliveries; dry run: nothing re-queued")
        return
    for integration in sorted(result.integrations):
        trigger_flush(integration)
    click.echo(f"matched {result.matched} deliveries, re-queued {result.requeued}")


def _add_optional_commands() -> None:
    from sandbox.cli import sandbox_command
    from workers.cli.api import api_command

    main.add_command(sandbox_command)
    main.add_command(api_command)


_add_optional_commands()


@main.command()
@click.option("--keep", is_flag=True, help="Keep the previous demo database instead of starting fresh.")
def demo(keep: bool) -> None:
    """Run the whole pipeline on embedded defaults against the SendGrid sandbox, and show the result."""
    from demo.run import run_demo

    sys.exit(run_demo(keep))
