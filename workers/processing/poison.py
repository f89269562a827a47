"""Processing attempts are counted, so an event whose processing keeps crashing (or killing its worker) is set
aside as failed instead of blocking its batch forever."""

from __future__ import annotations

from sqlalchemy import Engine, update

from models import Event, EventStatus
from models.base import utcnow
from models.db import among

MAX_PROCESS_ATTEMPTS = 5  # an event whose processing crashed (or was killed) this often is set aside as failed


def claim_attempt(engine: Engine, event_ids: list[int]) -> list[int]:
    """Count a processing attempt in its own committed transaction, so that a worker killed mid-batch
    still leaves the count behind; events over the limit are set aside as failed (poison)."""
    with engine.begin() as conn:
        rows = conn.execute(
            update(Event)
            .where(among(Event.id, event_ids), Event.status == EventStatus.RECEIVED)
            .values(process_attempts=Event.process_attempts + 1)
            .returning(Event.id, Event.process_attempts)
        ).all()
        poison = [i for i, attempts in rows if attempts > MAX_PROCESS_ATTEMPTS]
        if poison:
            conn.execute(
                update(Event)
                .where(among(Event.id, poison))
                .values(
                    status=EventStatus.FAILED,
                    processed_at=utcnow(),
                    reason=f"set aside: processing did not finish in {MAX_PROCESS_ATTEMPTS} attempts "
                    "(the worker crashed or was killed each time)",
                )
            )
    return sorted(i for i, attempts in rows if attempts <= MAX_PROCESS_ATTEMPTS)
