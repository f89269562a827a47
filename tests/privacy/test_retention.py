"""Retention strips exactly what is older than the window: payloads, patches, error texts; the rows stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from models.base import utcnow
from tests.factories import event, identify
from tests.privacy.conftest import deliver, store
from workers.privacy.retention import apply_retention, table_sizes

pytestmark = pytest.mark.integration

WINDOW = timedelta(days=30)


def test_retention_removes_exactly_what_is_older_than_the_window(db, sandbox, integration):
    now = utcnow()
    cutoff = now - WINDOW
    ids = store(db, *[identify(f"r{i}@example.com", f"r-{i}", i) for i in range(6)])
    deliver(db, sandbox, ids)
    held = store(db, event("page", 9, anonymousId="never-identified", properties={"url": "https://x.example/"}))
    deliver(db, sandbox, held)
    # Ages around the cutoff, to the microsecond: older ones go, the one exactly at the cutoff stays.
    ages = dict(zip(ids + held, [timedelta(days=400), timedelta(microseconds=1), timedelta(0),
                                 timedelta(microseconds=-1), timedelta(days=-1), timedelta(days=-20),
                                 timedelta(days=90)], strict=True))  # fmt: skip
    with db.begin() as session:
        for event_id, age in ages.items():
            at = cutoff - age
            session.execute(update(Event).where(Event.id == event_id).values(received_at=at))
            session.execute(update(Delivery).where(Delivery.event_id == event_id).values(created_at=at))
        session.execute(text("UPDATE delivery_attempts SET error = 'boom', created_at = :at"), {"at": cutoff})
        session.execute(
            update(DeliveryAttempt).where(DeliveryAttempt.id == session.scalar(select(func.min(DeliveryAttempt.id))))
            .values(created_at=cutoff - timedelta(microseconds=1))
        )  # fmt: skip

    removed = apply_retention(db, WINDOW, now=now, batch=2)  # several batches
    older = {i for i, age in ages.items() if age > timedelta(0)} - set(held)  # the held page keeps its payload
    assert removed == {"events": len(older), "deliveries": len(older), "delivery_attempts": 1}
    with db() as session:
        stripped = set(session.scalars(select(Event.id).where(Event.payload.is_(None))))
        assert stripped == older
        no_patch = set(session.scalars(select(Delivery.event_id).where(Delivery.patch.is_(None))))
        assert no_patch == older | set(held)  # a held delivery has no patch yet
        assert session.scalar(select(func.count()).select_from(Event)) == 7  # rows stay: the counts do not change
        held_row = session.scalars(select(Delivery).where(Delivery.event_id == held[0])).one()
        assert held_row.status == DeliveryStatus.HELD
        assert session.scalar(select(func.count()).where(DeliveryAttempt.error.is_(None))) == 1
        assert {"events", "deliveries", "delivery_attempts", "erasures"} <= set(table_sizes(session))
    assert apply_retention(db, WINDOW, now=now) == {"events": 0, "deliveries": 0, "delivery_attempts": 0}
