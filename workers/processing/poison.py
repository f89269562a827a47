"""Processing attempts are counted, so an event whose processing keeps crashing (or killing its worker) is set
aside as failed instead of blocking its batch forever."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from models import Event, EventStatus
from models.base import utcnow
from models.db import among

MAX_PROCESS_ATTEMPTS = 5  # an event whose processing crashed (or was killed) this often is set aside as failed


def claim_attempt(session: Session, event_ids: list[int]) -> list[int]:
    """Count a processing attempt; events over the limit are set aside as failed (poison). The caller commits
    this on its own, before the work starts, so that a worker killed mid-batch still leaves the count behind."""
    rows = session.execute(
        update(Event)
        .where(among(Event.id, event_ids), Event.status == EventStatus.RECEIVED)
        .values(process_attempts=Event.process_attempts + 1)
        .returning(Event.id, Event.process_attempts)
        .execution_options(synchronize_session=False)
    ).all()
    poison = [i for i, attempts in rows if attempts > MAX_PROCESS_ATTEMPTS]
    if poison:
        session.execute(
            update(Event)
            .where(among(Event.id, poison))
            .values(
                status=EventStatus.FAILED,
                processed_at=utcnow(),
                reason=f"set aside: processing did not finish in {MAX_PROCESS_ATTEMPTS} attempts "
                "(the worker crashed or was killed each time)",
            )
            .execution_options(synchronize_session=False)
        )
    return sorted(i for i, attempts in rows if attempts <= MAX_PROCESS_ATTEMPTS)
