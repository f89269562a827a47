"""The event inbox as operators read it: events by status with their reasons, newest first, so rejected
events can be listed with why (GET /v1/admin/events, `signal-sendgrid events --status rejected`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Event, EventStatus
from workers.admin import schemas
from workers.admin.blueprint import blp, documented_errors, transaction

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


@blp.route("/admin/events", methods=["GET"])
@blp.arguments(schemas.EventsQuerySchema, location="query")
@blp.response(200, schemas.EventListSchema(many=True))
@documented_errors()
def get_events(query: dict) -> list[dict]:
    """Events by status with their reasons (rejected by default)

    Newest first. A `rejected` event was bad input (the reason says what was wrong: a missing field, a value
    of the wrong type, a body that is not JSON); `failed` ones crashed processing repeatedly (poison). Page with
    `before_id` = the last id of the previous page.
    """
    with transaction() as session:
        rows = list_events(session, EventStatus(query["status"]), query["limit"], query.get("before_id"))
        return [row.__dict__ for row in rows]
