"""What the hot statements send to PostgreSQL: one array parameter instead of a placeholder per id, and the
status of a partial index written into the SQL, where a prepared plan can match the index's predicate."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from models import Contact, Delivery, DeliveryStatus, Event, EventStatus
from models.base import has_status
from models.db import among
from workers.processing import store

pytestmark = pytest.mark.integration


@contextmanager
def statements_sent(engine):
    sent: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):  # `db`'s own
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def test_an_id_list_is_one_array_parameter(db, pg_engine):
    ids = list(range(1, 501))
    with statements_sent(pg_engine) as sent, db() as session:
        assert session.scalars(select(Event.id).where(among(Event.id, ids))).all() == []
    ((statement, parameters),) = sent
    assert "= ANY (" in statement and statement.count("%(") == 1
    assert list(parameters.values()) == [ids]


def test_a_partial_index_status_is_written_into_the_statement(db, pg_engine):
    with statements_sent(pg_engine) as sent, db() as session:
        session.scalars(select(Delivery.id).where(has_status(Delivery.status, DeliveryStatus.QUEUED))).all()
        session.scalars(select(Event.id).where(has_status(Event.status, EventStatus.RECEIVED))).all()
    assert "deliveries.status = 'queued'" in sent[0][0]
    assert "events.status = 'received'" in sent[1][0]


def test_the_flush_finds_queued_deliveries_through_their_partial_index(db, pg_engine):
    with pg_engine.connect() as conn:
        plan = (
            conn.exec_driver_sql(
                "EXPLAIN SELECT id FROM deliveries WHERE integration_id = 1 AND status = 'queued' ORDER BY id LIMIT 10"
            )
            .scalars()
            .all()
        )
    assert any("ix_deliveries_queued" in line for line in plan), plan


def test_only_the_contacts_a_batch_changed_are_written_back(db, pg_engine, integration):
    with db.begin() as session:
        first, second = store.lock_contacts(
            session, [(integration.id, "a@example.com"), (integration.id, "b@example.com")]
        )
        second.fields = {"first_name": ["B", "2026-11-01T00:00:00+00:00"]}
        with statements_sent(pg_engine) as sent:
            store.save_contacts(session, [first, second])
            store.save_contacts(session, [first, second])  # nothing changed since: no statement at all
    ((statement, parameters),) = [s for s in sent if s[0].startswith("UPDATE contacts")]
    assert parameters["ids"] == [second.id]
    with db() as session:
        fields = dict(session.execute(select(Contact.email, Contact.fields)).all())
    assert fields == {"a@example.com": {}, "b@example.com": {"first_name": ["B", "2026-11-01T00:00:00+00:00"]}}
