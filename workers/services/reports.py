"""What operators read: the counts by status and the storage each table takes (`GET /v1/admin/stats`,
`signal-sendgrid stats`); Live Events is workers.services.timeline."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Delivery, DeliveryStatus, Event, EventStatus
from workers.privacy.retention import retained_counts, table_sizes

__all__ = ["stats", "table_sizes"]


def stats(session: Session) -> dict:
    kept = retained_counts(session)  # rows retention deleted still count (workers/privacy/retention.py)
    events = dict(session.execute(select(Event.status, func.count()).group_by(Event.status)).all())
    deliveries = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    events = {s: events.get(s, 0) + kept["events"].get(s.value, 0) for s in EventStatus}
    deliveries = {s: deliveries.get(s, 0) + kept["deliveries"].get(s.value, 0) for s in DeliveryStatus}
    return {
        "events": {
            "received": sum(events.values()),  # every event ever received
            "waiting": events.get(EventStatus.RECEIVED, 0),  # stored, not processed yet: the backlog
            **{status.value: events.get(status, 0) for status in EventStatus if status != EventStatus.RECEIVED},
        },
        "deliveries": {status.value: deliveries.get(status, 0) for status in DeliveryStatus},
    }
