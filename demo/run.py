"""`signal-sendgrid demo`: the whole pipeline on the embedded defaults, against the sandbox.

No RabbitMQ, PostgreSQL or SendGrid account needed: an in-memory broker, the embedded PostgreSQL server (its
own, in SIGNAL_HOME/demo, so the demo never touches the default embedded database), the sandbox on a free
port, Celery tasks run in-process. The code paths are the production ones: publish -> ingest -> process ->
flush -> import polling.
"""

from __future__ import annotations

import os
import time

import click
from sqlalchemy import Engine

from config.settings import Settings, load_settings
from demo.stream import sample_lines
from models.db import database_url, make_engine, session_factory
from models.migrate import upgrade
from sandbox import DEFAULT_GROUP_ID, DEFAULT_KEY, DEFAULT_LIST_ID
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from workers import tasks
from workers.ingest.consumer import IngestConsumer
from workers.ingest.wire import PublishReport, connect, declare, parse_lines, publish_events
from workers.integrations.install import InstallRequest, install
from workers.services.reports import stats
from workers.services.timeline import TimelineFilter, timeline


def step(message: str) -> None:
    click.echo(click.style("==> ", fg="cyan", bold=True) + message)


def run_demo(keep: bool = False) -> int:
    real_key = os.environ.get("SENDGRID_API_KEY")
    server = None
    if real_key:
        api_url, key, list_id = load_settings().sendgrid_api_url, real_key, os.environ.get("SENDGRID_LIST_ID")
        step(f"SENDGRID_API_KEY is set: delivering to the real API at {api_url}")
    else:
        server = SandboxServer(port=0, apply_delay=0.5).start()
        api_url, key, list_id = server.url, DEFAULT_KEY, DEFAULT_LIST_ID
        step(f"SendGrid sandbox listening on {server.url} (imports apply 0.5 s after each PUT)")
    try:
        return pipeline(demo_settings(api_url), key, list_id, server, keep)
    finally:
        if server is not None:
            server.stop()


def demo_settings(api_url: str) -> Settings:
    """The embedded defaults, whatever DATABASE_URL says, with the demo's own folder inside SIGNAL_HOME."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return load_settings({**env, "SIGNAL_HOME": str(load_settings(env).home / "demo"), "SENDGRID_API_URL": api_url})


def empty(engine: Engine) -> None:
    """Start from nothing: drop every table of the previous run (the server and its data folder stay)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")


def pipeline(settings: Settings, key: str, list_id: str | None, server: SandboxServer | None, keep: bool) -> int:
    url = database_url(settings)  # starts the embedded server and migrates it
    engine = make_engine(url)
    if not keep:
        empty(engine)
        upgrade(url)
    sessions = session_factory(engine)
    step(f"embedded PostgreSQL in {settings.home / 'pgdata'} migrated; broker: in-memory (embedded)")

    with sessions.begin() as session:
        request = InstallRequest(
            api_key=key,
            name="SendGrid (demo)",
            default_list_id=list_id,
            options={"unsubscribe_group_id": DEFAULT_GROUP_ID} if server else {},
        )
        result = install(session, request, settings)
        integration_id = result.integration.id
        step(f"installed integration {integration_id} (key {result.integration.api_key_hint}); "
             f"custom fields created: {', '.join(result.created_fields) or 'none needed'}")  # fmt: skip

    lines = sample_lines()
    report = PublishReport()
    with connect("memory://") as connection:
        declare(connection)
        publish_events(connection, parse_lines(lines, report), report)
        step(f"published {report.confirmed} events ({len(report.bad_lines)} line not JSON: "
             f"{'; '.join(f'line {n}: {why}' for n, why in report.bad_lines)})")  # fmt: skip

        # The real tasks, run in this process by the embedded (eager) Celery app: ingest's trigger processes the
        # batch, which triggers the flush, as the pool would.
        tasks.use(sessions, settings)
        consumer = IngestConsumer(
            connect("memory://"), sessions, tasks.trigger_processing, batch_size=500, batch_ms=200
        )
        consumer.run(idle_exit_seconds=0.5)
        step(f"ingested {consumer.stored} messages, processed them and flushed to SendGrid (the real tasks)")

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tasks.poll_imports_task.delay()  # as beat schedules it
        with sessions() as session:
            if stats(session)["deliveries"]["sent"] == 0:
                break
        click.echo("    waiting for SendGrid to apply the import jobs ...")
        time.sleep(0.5)

    with sessions() as session:
        rows = timeline(session, TimelineFilter(), limit=50).rows  # the console's Live Events query
        counts = stats(session)
    step("Live Events (newest first)")
    colors = {"succeeded": "green", "rejected": "red"}
    for r in rows:
        status = click.style(f"{r.status:<14}", fg=colors.get(r.status, "yellow"))
        click.echo(f"  {r.message_id:<8} {(r.kind or r.event_type or '-'):<16} {(r.email or '-'):<22} {status} "
                   f"{r.status_code or '-':>4}  {r.error or ''}")  # fmt: skip
    step("counts: " + "; ".join(f"{g}: " + ", ".join(f"{k} {v}" for k, v in c.items() if v) for g, c in counts.items()))
    if server is not None:
        control = SandboxControl(server.url)
        step("contacts as SendGrid now holds them")
        for contact in control.contacts():
            fields = {k: v for k, v in contact.items() if k not in ("custom_fields", "id") and v not in (None, "", [])}
            click.echo(f"  {fields}")
            click.echo(f"      custom fields: {contact.get('custom_fields')}")
        suppressed = control.suppressions()
        step(f"suppressions (consent withdrawn): {suppressed}")
    click.echo(f"\nInspect it again: SIGNAL_HOME={settings.home} signal-sendgrid deliveries")
    click.echo(
        f"Or in the console: SIGNAL_HOME={settings.home} SIGNAL_ADMIN_TOKEN=<32 or more characters> "
        "signal-sendgrid api, then sign in at http://127.0.0.1:8084/ with that token"
    )
    return 0
