"""Retention deletes exactly what is older than the window (events with their deliveries), keeps their counts for
the statistics, strips old attempts' error texts, and leaves waiting work and the contacts' state alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from models import Contact, Delivery, DeliveryAttempt, Event
from models.base import utcnow
from tests.factories import event, identify
from tests.helpers.privacy import deliver, store
from workers.privacy.retention import apply_retention, table_sizes
from workers.services.reports import stats

pytestmark = pytest.mark.integration

WINDOW = timedelta(days=30)


def test_retention_removes_exactly_what_is_older_than_the_window(db, sandbox, integration):
    now = utcnow()
    cutoff = now - WINDOW
    ids = store(db, *[identify(f"r{i}@example.com", f"r-{i}", i) for i in range(6)])
    deliver(db, sandbox, ids)
    held = store(db, event("page", 9, anonymousId="never-identified", properties={"url": "https://x.example/"}))
    deliver(db, sandbox, held)
    with db() as session:
        counted_before = stats(session)
    # Ages around the cutoff, to the microsecond: older ones go, the one exactly at the cutoff stays.
    ages = dict(zip(ids + held, [timedelta(days=400), timedelta(microseconds=1), timedelta(0),
                                 timedelta(microseconds=-1), timedelta(days=-1), timedelta(days=-20),
                                 timedelta(days=90)], strict=True))  # fmt: skip
    with db.begin() as session:
        for event_id, age in ages.items():
            session.execute(update(Event).where(Event.id == event_id).values(received_at=cutoff - age))
        session.execute(text("UPDATE delivery_attempts SET error = 'boom', created_at = :at"), {"at": cutoff})
        first_attempt = session.scalar(select(func.min(DeliveryAttempt.id)))
        session.execute(
            update(DeliveryAttempt).where(DeliveryAttempt.id == first_attempt)
            .values(created_at=cutoff - timedelta(microseconds=1))
        )  # fmt: skip

    removed = apply_retention(db, WINDOW, now=now, batch=1)  # one event per transaction: several batches

    older = {i for i, age in ages.items() if age > timedelta(0)} - set(held)  # the held page waits for its identify
    assert removed == {"events": len(older), "deliveries": len(older), "delivery_attempts": 1}
    with db() as session:
        assert set(session.scalars(select(Event.id))) == set(ages) - older
        assert set(session.scalars(select(Delivery.event_id))) == set(ages) - older
        assert session.scalar(select(func.count()).select_from(Contact)) == 6  # the state stays
        assert session.scalar(select(func.count()).where(DeliveryAttempt.error.is_(None))) == 1
        assert stats(session) == counted_before  # every event and delivery still counted
        assert {"events", "deliveries", "retained_counts", "erasures"} <= set(table_sizes(session))
    assert apply_retention(db, WINDOW, now=now) == {"events": 0, "deliveries": 0, "delivery_attempts": 0}
