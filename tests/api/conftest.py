"""Fixtures of the admin API tests: work for the reports (the server itself: tests/fixtures/admin_api.py)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from models import Delivery, DeliveryStatus, Event
from tests.factories import event, identify
from tests.helpers.api import (
    install_two,
)
from workers.ingest.inbox import Incoming, store_events
from workers.processing.process import process_events


@pytest.fixture
def work(api, db, sandbox) -> dict:
    """Two integrations, five events (3 identify, 2 page) -> ten deliveries; the identify ones of the first
    integration marked failed."""
    first, second = install_two(api, sandbox)
    events = [identify(f"p{n}@example.com", f"u{n}", n) for n in range(3)]
    events += [event("page", 5, userId="u0", properties={"url": "https://shop.example/a"})]
    events += [event("page", 6, userId="u1", properties={"url": "https://shop.example/b"})]
    with db.begin() as session:
        ids = store_events(session, [Incoming(json.dumps(e).encode()) for e in events])
    process_events(db, ids)
    with db.begin() as session:
        identify_ids = select(Event.id).where(Event.type == "identify")
        session.execute(
            update(Delivery)
            .where(Delivery.integration_id == first, Delivery.event_id.in_(identify_ids))
            .values(status=DeliveryStatus.FAILED, reason="SendGrid said no")
        )
    return {"first": first, "second": second, "events": events}
