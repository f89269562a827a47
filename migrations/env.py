"""Alembic environment: migrates DATABASE_URL, the embedded server without it, or the URL handed in
(`signal-sendgrid db upgrade`, the embedded server's start, tests)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from models import Base
from models.base import UTCDateTime
from models.db import database_url, make_engine

config = context.config
target_metadata = Base.metadata
MIGRATION_LOCK = 0x5347_4D49_4752  # advisory lock key "SGMIGR", far above the flush locks (workers.delivery.flush)


def render_item(type_, obj, autogen_context):  # noqa: ANN001 - Alembic hook
    """Render the project's UTCDateTime as a plain timezone-aware DateTime in migration files."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or database_url()
    engine = make_engine(url)
    with engine.connect() as connection:
        # A migration that waits on a lock blocks every worker behind it: give up instead.
        connection.execute(text("SET lock_timeout = '5s'"))
        connection.execute(text("SET statement_timeout = '120s'"))
        connection.commit()  # else Alembic joins this transaction and never commits the migration
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            # Processes that start on one fresh database together (pool processes on the embedded server, two
            # releases at once) would each create the tables: the later ones wait here, then find it at head.
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
