"""Events as operators read them: the inbox by status with the reasons, newest first, so rejected events can be
listed with why (GET /v1/admin/events, `signal-sendgrid events --status rejected`); and one event with its
deliveries, the upserts that carried each and its import job (the console's event page)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AttemptKind, Delivery, DeliveryAttempt, Event, EventStatus, ImportJob, Integration
from models.db import among

BODY_EXCERPT = 300  # characters of the stored body shown with each event


@dataclass(frozen=True)
class EventRow:
    id: int
    message_id: str
    type: str | None
    received_at: datetime
    status: str
    reason: str | None
    process_attempts: int
    body: str  # the start of the payload (or of the raw body when it was not a JSON object)
    digest: str | None = None  # sha256 of the event (transport fields aside) or of a body that was not one
    conflicts_with: str | None = None  # conflicting: the digest of the event stored under its messageId
    clock_clamped_from: datetime | None = None  # dated too far after its arrival: the claim; it took received_at

    def as_dict(self) -> dict:
        clamped = self.clock_clamped_from.isoformat() if self.clock_clamped_from else None
        return {**self.__dict__, "received_at": self.received_at.isoformat(), "clock_clamped_from": clamped}


def list_events(
    session: Session, status: EventStatus = EventStatus.REJECTED, limit: int = 50, before_id: int | None = None
) -> list[EventRow]:
    """Events with this status, newest first; `before_id` pages on (the last id of the previous page)."""
    query = select(Event).where(Event.status == status).order_by(Event.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    return [
        EventRow(
            id=e.id,
            message_id=e.message_id,
            type=e.type,
            received_at=e.received_at,
            status=e.status.value,
            reason=e.reason,
            process_attempts=e.process_attempts,
            body=excerpt(e),
            digest=e.digest,
            conflicts_with=e.conflicts_with,
            clock_clamped_from=e.clock_clamped_from,
        )
        for e in session.scalars(query)
    ]


def excerpt(event: Event) -> str:
    if event.payload is not None:
        text = json.dumps(event.payload, ensure_ascii=False, sort_keys=True)
    else:
        text = event.raw_body or ""
    return text if len(text) <= BODY_EXCERPT else text[: BODY_EXCERPT - 1] + "…"


@dataclass
class DeliveryRecord:
    """A delivery with what the event page shows of it: its integration, the requests that carried it (upserts,
    then the polls of its import job), oldest first, and the import job."""

    delivery: Delivery
    integration: Integration | None
    attempts: list[DeliveryAttempt]
    job: ImportJob | None


def event_with_deliveries(session: Session, event_id: int) -> tuple[Event, list[DeliveryRecord]] | None:
    """The event and each of its deliveries with their requests; None when there is no such event."""
    event = session.get(Event, event_id)
    if event is None:
        return None
    deliveries = session.scalars(select(Delivery).where(Delivery.event_id == event_id).order_by(Delivery.id))
    return event, [delivery_record(session, d) for d in deliveries]


def delivery_record(session: Session, delivery: Delivery) -> DeliveryRecord:
    attempts = upserts_of(session, delivery)
    job = None
    if delivery.job_id:
        job = session.scalar(select(ImportJob).where(ImportJob.job_id == delivery.job_id))
        polls = session.scalars(
            select(DeliveryAttempt)
            .where(
                DeliveryAttempt.integration_id == delivery.integration_id,
                DeliveryAttempt.kind == AttemptKind.IMPORT_POLL,
                DeliveryAttempt.path.endswith(f"/imports/{delivery.job_id}"),
            )
            .order_by(DeliveryAttempt.id)
        )
        attempts.extend(polls)
    return DeliveryRecord(delivery, session.get(Integration, delivery.integration_id), attempts, job)


def upserts_of(session: Session, delivery: Delivery) -> list[DeliveryAttempt]:
    """Every upsert that carried the delivery, oldest first (the last one alone for a delivery made before the
    history was kept); an attempt deleted since (retention) is left out."""
    ids = delivery.attempt_ids or ([delivery.attempt_id] if delivery.attempt_id is not None else [])
    if not ids:
        return []
    return list(
        session.scalars(select(DeliveryAttempt).where(among(DeliveryAttempt.id, ids)).order_by(DeliveryAttempt.id))
    )
