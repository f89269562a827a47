"""What the command modules share: settings with the database reachable, and the flush trigger."""

from __future__ import annotations

from collections.abc import Iterable

import click
from sqlalchemy.orm import Session

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


def flush_after_commit(session: Session, integration_ids: Iterable[int]) -> None:
    """Trigger a flush of these integrations once the command's transaction has committed."""
    from workers.tasks import after_commit, trigger_flush

    def trigger() -> None:
        try:
            trigger_flush(integration_ids)
        except Exception as e:  # the sweep flushes them anyway
            click.echo(f"note: could not trigger a flush now ({type(e).__name__}); the sweep will", err=True)

    after_commit(session, trigger)
