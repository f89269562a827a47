"""`signal-sendgrid api`: serve the web process (the admin HTTP API, the console, /metrics: `workers/web.py`)
with waitress.

waitress reads requests on one event loop and hands only complete ones to a bounded pool of threads, so a
client that sends half a request holds a connection, never a thread; connections beyond --connection-limit wait
in the listen backlog. werkzeug's development server gave every connection a thread: 200 half-sent requests
held 201 threads for as long as the clients liked. A connection is held until its request is read in full
within SIGNAL_API_READ_DEADLINE_SECONDS, and one client holds at most SIGNAL_API_CONNECTIONS_PER_CLIENT
(workers/web_server.py): trickling clients cannot take every slot.
"""

from __future__ import annotations

import sys

import click

from config.settings import hide_password, load_settings
from workers.cli.common import ready_settings

# Request bodies beyond this are refused while they arrive, before the app reads them (the app answers 413
# above MAX_EVENTS_BODY; the margin lets it say so).
MAX_BODY_BYTES = 2 * 1024 * 1024


@click.command("api")
@click.option("--port", default=8084, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--threads", default=8, show_default=True, help="Requests served at the same time.")
@click.option("--connection-limit", default=1000, show_default=True, help="Open connections at most.")
@click.option("--channel-timeout", default=30, show_default=True, help="Seconds an idle connection is kept.")
def api_command(port: int, host: str, threads: int, connection_limit: int, channel_timeout: int) -> None:
    """Serve the admin HTTP API (install, integrations, deliveries, replay, stats, POST /v1/events, /metrics)."""
    from models.db import database_url
    from workers.web import create_app
    from workers.web_server import serve

    settings = load_settings()
    if not settings.admin_token:
        click.echo("error: SIGNAL_ADMIN_TOKEN is not set: the admin API needs a bearer token to require", err=True)
        sys.exit(2)
    ready_settings()
    app = create_app(settings)
    click.echo(
        f"admin API on http://{host}:{port} (docs /docs, OpenAPI /openapi.json, metrics /metrics), "
        f"database {hide_password(database_url(settings))}, broker {hide_password(settings.broker_url)}"
    )
    try:
        serve(
            app,
            read_deadline=settings.api_read_deadline,
            per_client=settings.api_connections_per_client,
            proxies=settings.trusted_proxies,
            host=host,
            port=port,
            threads=threads,
            connection_limit=connection_limit,
            channel_timeout=channel_timeout,
            max_request_body_size=MAX_BODY_BYTES,
            ident="signal-sendgrid",
            asyncore_use_poll=True,  # select() stops at 1024 descriptors
        )
    except OSError as e:  # the port is taken, or the address is not this machine's
        click.echo(f"error: cannot listen on {host}:{port} ({e.strerror or e}): choose --host/--port", err=True)
        sys.exit(2)
