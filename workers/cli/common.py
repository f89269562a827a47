"""What the command modules share: settings with the database reachable, and the flush trigger."""

from __future__ import annotations

import click

from config.settings import Settings, load_settings
from models.db import check_connection, database_url, get_engine


def ready_settings(migrate: bool = False) -> Settings:
    """The settings, with the database reachable (the embedded default is migrated when it starts)."""
    settings = load_settings()
    check_connection(get_engine())
    if migrate:
        from models.migrate import upgrade

        upgrade(database_url(settings))
    return settings


def trigger_flush(integration_id: int) -> None:
    from workers.tasks import flush_integration_task

    try:
        flush_integration_task.delay(integration_id)
    except Exception as e:  # the sweep flushes it anyway
        click.echo(f"note: could not trigger a flush now ({type(e).__name__}); the sweep will", err=True)
