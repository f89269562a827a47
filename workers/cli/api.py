"""`signal-sendgrid api`: serve the admin HTTP API with werkzeug's threaded server."""

from __future__ import annotations

import sys

import click

from config.settings import hide_password, load_settings
from workers.cli.common import ready_settings


@click.command("api")
@click.option("--port", default=8084, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
def api_command(port: int, host: str) -> None:
    """Serve the admin HTTP API (install, integrations, deliveries, replay, stats, POST /v1/events)."""
    from werkzeug.serving import run_simple

    from models.db import database_url
    from workers.admin.app import create_app

    settings = load_settings()
    if not settings.admin_token:
        click.echo("error: SIGNAL_ADMIN_TOKEN is not set: the admin API needs a bearer token to require", err=True)
        sys.exit(2)
    ready_settings()
    click.echo(
        f"admin API on http://{host}:{port} (docs /docs, OpenAPI /openapi.json), "
        f"database {hide_password(database_url(settings))}, broker {hide_password(settings.broker_url)}"
    )
    run_simple(host, port, create_app(settings), threaded=True)
