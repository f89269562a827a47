"""The Alembic migrations and the SQLAlchemy models must describe the same schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models import Base
from models.db import make_engine
from models.migrate import alembic_config, upgrade
from tests.fixtures.services import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty PostgreSQL database of this test's own, for tests that change its schema."""
    with fresh_database("signal_migrations") as url:
        yield url


def diff_against_models(url: str) -> list:
    engine = make_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def test_postgres_migrations_match_models(pg_url):
    assert diff_against_models(pg_url) == []


def test_drift_is_detected(fresh_pg_url):
    """The check above can fail: a model change without a migration shows up."""
    upgrade(fresh_pg_url)
    engine = make_engine(fresh_pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE orders DROP COLUMN currency")
        conn.exec_driver_sql("DROP INDEX ix_deliveries_queued")
    engine.dispose()
    changes = [str(change) for change in diff_against_models(fresh_pg_url)]
    assert any("currency" in change for change in changes)
    assert any("ix_deliveries_queued" in change for change in changes)


def test_the_migrations_since_identity_keys_go_down_and_up_again(fresh_pg_url):
    upgrade(fresh_pg_url)
    command.downgrade(alembic_config(fresh_pg_url), "1136691bbe28")
    assert diff_against_models(fresh_pg_url) != []  # the previous schema: identities' email and link required
    upgrade(fresh_pg_url)
    assert diff_against_models(fresh_pg_url) == []
