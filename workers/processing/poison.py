"""Processing failures told apart: an event whose own data fails the same way on every try is rejected at the
first failure with the real reason; one whose processing crashes (or kills its worker) is retried, its attempts
counted, and set aside as failed after MAX_PROCESS_ATTEMPTS, so neither blocks its batch forever."""

from __future__ import annotations

import json
import logging

from sqlalchemy import Text, cast, null, select, update
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from models import Event, EventStatus
from models.base import utcnow
from models.db import among
from workers.ingest.inbox import MAX_RAW_BODY

log = logging.getLogger(__name__)

MAX_PROCESS_ATTEMPTS = 5  # an event whose processing crashed (or was killed) this often is set aside as failed

# What one event's data raises, the same on every try: reading its payload (a number psycopg cannot load), a
# value the mapping or the database refuses. Retrying it only delays its batch-mates; anything else (a lost
# connection, a deadlock, a killed worker) is a crash and retried.
DETERMINISTIC = (ValueError, OverflowError, RecursionError)
DETERMINISTIC_ALONE = (*DETERMINISTIC, DataError)  # a database refusal is the event's only when it ran alone


def why(error: BaseException) -> str:
    """The real reason, on one line."""
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:1000]


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


def reject_unreadable(session: Session, event_ids: list[int]) -> set[int]:
    """Events among these (locked by the caller) whose stored payload the driver cannot load, as it loads JSONB:
    rejected now with the loader's error, the payload kept as text in `raw_body` (cut like ingest's) so that no
    later reader (Live Events, erasure, retention) trips over it. Returns their ids."""
    rows = session.execute(
        select(Event.id, cast(Event.payload, Text))
        .where(among(Event.id, event_ids), Event.status == EventStatus.RECEIVED)
        .with_for_update(skip_locked=True)
    ).all()
    rejected = []
    for event_id, text in rows:
        try:
            json.loads(text)
        except DETERMINISTIC as e:
            reason = f"the stored payload cannot be read: {why(e)}"
            rejected.append({"id": event_id, "reason": reason, "raw_body": text[:MAX_RAW_BODY]})
    for row in rejected:  # a handful at most: one statement each
        log.warning("event %s rejected: %s", row["id"], row["reason"])
        session.execute(
            update(Event)
            .where(Event.id == row["id"])
            .values(status=EventStatus.REJECTED, reason=row["reason"], raw_body=row["raw_body"], payload=null(),
                    processed_at=utcnow())
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    return {r["id"] for r in rejected}


def reject(session: Session, event_id: int, error: BaseException) -> None:
    """One event whose processing failed on its own data: rejected with the real reason, one log line."""
    reason = f"processing this event fails the same way on every try: {why(error)}"
    log.warning("event %s rejected: %s", event_id, reason)
    session.execute(
        update(Event)
        .where(Event.id == event_id, Event.status == EventStatus.RECEIVED)
        .values(status=EventStatus.REJECTED, reason=reason, processed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
