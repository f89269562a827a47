"""The rolled-back transaction fixture (tests/fixtures/transactions.py): commits inside, nothing left after."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from models import Event, EventStatus, Integration
from tests.factories import IntegrationFactory
from tests.fixtures.transactions import rolled_back, savepoint_sessions
from workers.ingest import inbox
from workers.ingest.inbox import Incoming, store_events

pytestmark = pytest.mark.integration


def named(engine: Engine, name: str) -> int:
    """How many integrations of this name another connection sees (committed rows only)."""
    with engine.connect() as other:
        return other.scalar(select(func.count()).select_from(Integration).where(Integration.name == name))


def test_a_commit_inside_is_rolled_back_afterwards(pg_engine):
    name = f"rolled back {uuid.uuid4().hex}"
    with rolled_back(pg_engine) as connection, savepoint_sessions(connection)() as session:
        session.add(IntegrationFactory(name=name))
        session.commit()  # a SAVEPOINT released, not the outer transaction
        assert session.scalar(select(func.count()).where(Integration.name == name)) == 1
        assert named(pg_engine, name) == 0  # not committed for anyone else
        session.add(IntegrationFactory(name=name))
        session.commit()
        assert session.scalar(select(func.count()).where(Integration.name == name)) == 2
    assert named(pg_engine, name) == 0


def test_without_the_fixture_the_same_commit_stays(pg_engine):
    """The control: the check above can fail (a plain session's commit is seen by other connections)."""
    name = f"committed {uuid.uuid4().hex}"
    with Session(pg_engine) as session:
        session.add(IntegrationFactory(name=name))
        session.commit()
    try:
        assert named(pg_engine, name) == 1
    finally:
        with Session(pg_engine) as session:
            session.execute(Integration.__table__.delete().where(Integration.name == name))
            session.commit()


def test_a_rollback_inside_undoes_only_what_followed_the_last_commit(db_session: Session):
    kept, undone = f"kept {uuid.uuid4().hex}", f"undone {uuid.uuid4().hex}"
    db_session.add(IntegrationFactory(name=kept))
    db_session.commit()
    db_session.add(IntegrationFactory(name=undone))
    db_session.flush()
    db_session.rollback()
    names = set(db_session.scalars(select(Integration.name).where(Integration.name.in_([kept, undone]))))
    assert names == {kept}


def test_sessions_from_db_sessions_share_the_transaction(db_session: Session, db_sessions: sessionmaker[Session]):
    name = f"shared {uuid.uuid4().hex}"
    with db_sessions.begin() as session:  # how flush_integration and the consumer open theirs
        session.add(IntegrationFactory(name=name))
    assert db_session.scalar(select(func.count()).where(Integration.name == name)) == 1
    assert named(db_session.get_bind().engine, name) == 0


def test_store_events_commits_and_falls_back_to_savepoints_under_the_fixture(
    db_session: Session, pg_engine, monkeypatch
):
    """Product code that nests savepoints (the one-by-one fallback when PostgreSQL refuses a row) and is then
    committed runs unchanged inside the rolled-back transaction."""
    run = uuid.uuid4().hex
    good = json.dumps({"messageId": f"{run}-good", "type": "track"}).encode()
    # Python reads 1e200000 as inf; PostgreSQL's numeric cannot hold it: the batch is refused, then this row.
    # Ingest's decoder refuses such numbers at the door now: a plain one lets it reach the database.
    monkeypatch.setattr(inbox, "_DECODER", json.JSONDecoder())
    refused = b'{"messageId":"%s-refused","type":"track","n":1e200000}' % run.encode()
    ids = store_events(db_session, [Incoming(good), Incoming(refused), Incoming(good)])
    db_session.commit()
    ours = (Event.message_id.startswith(run)) | Event.raw_body.contains(run)
    rows = {e.raw_body or e.message_id: e for e in db_session.scalars(select(Event).where(ours))}
    assert sorted(rows) == [f"{run}-good", refused.decode()]
    assert ids == [rows[f"{run}-good"].id]
    assert rows[refused.decode()].status == EventStatus.REJECTED
    assert rows[refused.decode()].message_id.startswith("sha256:")  # a refused body leaves the producer's id free
    assert rows[refused.decode()].reason.startswith("the database refused this event")
    with pg_engine.connect() as other:
        assert other.scalar(select(func.count()).where(ours)) == 0
