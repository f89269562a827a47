"""Engine and session setup: PostgreSQL through psycopg 3, the configured server's or the embedded one's."""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import lru_cache

from psycopg.types.array import ListBinaryDumper
from sqlalchemy import Engine, any_, bindparam, create_engine, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from config.settings import ConfigError, Settings, hide_password, load_settings
from models import embedded


def make_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5, "application_name": "signal-sendgrid"},
    )

    @event.listens_for(engine, "connect")
    def _binary_arrays(dbapi_conn, _record):  # noqa: ANN001 - DBAPI hook
        # Array parameters (the unnest statements) in binary: in text form psycopg escapes every quote of
        # every JSON body with a regular expression, a fifth of the ingest's CPU.
        dbapi_conn.adapters.register_dumper(list, ListBinaryDumper)

    return engine


def database_url(settings: Settings | None = None) -> str:
    """DATABASE_URL or, when it is not set, the URL of the embedded server in SIGNAL_HOME (started here)."""
    settings = settings or load_settings()
    if settings.database_url is not None:
        return settings.database_url
    try:
        return embedded.url(settings.home)
    except embedded.EmbeddedServerError as e:
        raise ConfigError(str(e)) from e


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    return engine_for(database_url())


def check_connection(engine: Engine) -> None:
    """Raise ConfigError with one readable line when the database cannot be reached."""
    try:
        with engine.connect():
            pass
    except OperationalError as e:
        first = str(e.orig or e).strip().splitlines()[0] if str(e.orig or e).strip() else type(e).__name__
        raise ConfigError(
            f"DATABASE_URL is unreachable ({first}): {hide_password(engine.url.render_as_string(False))}"
        ) from e


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)


def session_scope(engine: Engine | None = None) -> AbstractContextManager[Session]:
    """One transaction: commit on success, roll back on error, always close."""
    return session_factory(engine).begin()


def among(column, values) -> ColumnElement[bool]:
    """`column IN values` as one array parameter (`= ANY(:array)`): the statement's text and plan are the same
    for any number of values, instead of one placeholder per value to bind and parse."""
    return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
