"""Alembic environment: migrates DATABASE_URL (or the URL handed in by `signal-sendgrid db upgrade`)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from models import Base
from models.base import UTCDateTime
from models.db import make_engine
from workers.settings import load_settings

config = context.config
target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):  # noqa: ANN001 - Alembic hook
    """Render the project's UTCDateTime as a plain timezone-aware DateTime in migration files."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or load_settings().database_url
    engine = make_engine(url)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # A migration that waits on a lock blocks every worker behind it: give up instead.
            connection.execute(text("SET lock_timeout = '5s'"))
            connection.execute(text("SET statement_timeout = '120s'"))
            connection.commit()  # else Alembic joins this transaction and never commits the migration
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=load_settings().database_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
