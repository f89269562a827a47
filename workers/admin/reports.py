"""What operators read: the Live Events view of deliveries and the counts by status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Delivery, DeliveryStatus, Event, EventStatus


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    time: datetime
    integration_id: int
    event_type: str | None
    kind: str | None
    message_id: str
    email: str | None
    status: str
    status_code: int | None
    attempts: int
    replays: int
    job_id: str | None
    error: str | None

    def as_dict(self) -> dict:
        return {**self.__dict__, "time": self.time.isoformat()}


def live_events(
    session: Session,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    integration_id: int | None = None,
    event_type: str | None = None,
) -> list[DeliveryRow]:
    query = (
        select(Delivery, Event.message_id, Event.type)
        .join(Event, Event.id == Delivery.event_id)
        .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if status:
        query = query.where(Delivery.status == DeliveryStatus(status))
    if integration_id is not None:
        query = query.where(Delivery.integration_id == integration_id)
    if event_type:
        query = query.where(Event.type == event_type)
    return [
        DeliveryRow(
            id=d.id,
            time=d.updated_at,
            integration_id=d.integration_id,
            event_type=event_type_of(etype, d.kind),
            kind=d.kind,
            message_id=message_id,
            email=d.email,
            status=d.status.value,
            status_code=d.status_code,
            attempts=d.attempts,
            replays=d.replay_count,
            job_id=d.job_id,
            error=d.reason,
        )
        for d, message_id, etype in session.execute(query)
    ]


def event_type_of(event_type: str | None, kind: str | None) -> str | None:
    return kind if event_type == "track" and kind else event_type


def stats(session: Session) -> dict:
    from workers.privacy.retention import retained_counts

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
