"""What the command modules share: settings with the database usable, RabbitMQ reachable."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from config.settings import ConfigError, Settings, load_settings
from models.db import check_connection, database_url, get_engine
from workers.failures import broker_error, broker_errors, check_database, database_error


def ready_settings(migrate: bool = False) -> Settings:
    """The settings, with the database reachable and its schema this release's (the embedded default is
    migrated when it starts; `migrate` runs the migrations first). Anything else is a ConfigError: one line."""
    settings = load_settings()
    engine = get_engine()
    check_connection(engine)
    if migrate:
        from models.migrate import upgrade

        try:
            upgrade(database_url(settings))
        except DBAPIError as e:
            raise database_error(database_url(settings), e) from e
    check_database(engine)
    return settings


def database_failure(error: Exception) -> str:
    """The one line for a database error met after the command's first check (the server went away)."""
    try:
        url = database_url()
    except ConfigError:
        url = "DATABASE_URL"
    return str(database_error(url, error))


def broker_connection(url: str, retries: int = 1):  # noqa: ANN201 - a kombu Connection
    """A connection to RabbitMQ that answered, or a ConfigError naming BROKER_URL (password hidden)."""
    from workers.ingest.wire import connect

    connection = connect(url)
    try:
        connection.ensure_connection(max_retries=retries, interval_start=0.2, interval_step=0.5)
    except broker_errors() as e:
        connection.release()
        raise broker_error(url, e) from e
    return connection
