"""The Alembic migrations and the SQLAlchemy models must describe the same schema."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from models import Base
from models.db import make_engine
from models.migrate import alembic_config, upgrade

pytestmark = pytest.mark.integration


def diff_against_models(url: str) -> list:
    engine = make_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def test_postgres_migrations_match_models(pg_url):
    assert diff_against_models(pg_url) == []


def test_sqlite_migrations_match_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    assert diff_against_models(url) == []


def test_drift_is_detected(tmp_path):
    """The check above can fail: a model change without a migration shows up."""
    url = f"sqlite:///{tmp_path / 'drift.db'}"
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE orders DROP COLUMN currency")
    engine.dispose()
    assert any("currency" in str(change) for change in diff_against_models(url))


def test_the_latest_migration_goes_down_and_up_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "-1")
    assert diff_against_models(url) != []  # the previous schema: the models' partial indexes are missing
    upgrade(url)
    assert diff_against_models(url) == []
