"""The flush's statements: the per-integration lock, the queued deliveries a round claims, the contacts'
current state it sends, and an accepted request's deliveries marked sent with the import job to poll."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Boolean, Row, bindparam, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import Contact, Delivery, DeliveryStatus, ImportJob
from models.base import has_status
from models.db import among

CLAIM_LIMIT = 60_000  # deliveries claimed per round (at most two full requests)
FLUSH_LOCK = 0x5347_0000  # advisory lock key space: FLUSH_LOCK + integration id

# A bigint key (an integer literal could render ::INTEGER, which fails past 2**31).
_TRY_LOCK = select(func.pg_try_advisory_xact_lock(bindparam("k", type_=BigInteger), type_=Boolean))


def try_lock(session: Session, integration_id: int) -> bool:
    """One flush of an integration at a time: the lock lasts until this transaction ends, and a second flush
    gives up at once instead of queueing behind it (the holder sends what arrived meanwhile)."""
    return bool(session.scalar(_TRY_LOCK, {"k": FLUSH_LOCK + integration_id}))


def claim_queued(session: Session, integration_id: int) -> list[Delivery]:
    """The integration's queued deliveries in id order, locked (skipping rows another transaction holds)."""
    return list(
        session.scalars(
            select(Delivery)
            # Every queued delivery, retries included: backoff pauses the whole integration (paused_until), so
            # a contact's newer patch can never overtake an older one that is waiting to be retried.
            .where(Delivery.integration_id == integration_id, has_status(Delivery.status, DeliveryStatus.QUEUED))
            .order_by(Delivery.id)
            .limit(CLAIM_LIMIT)
            .with_for_update(skip_locked=True)
        )
    )


def contact_states(session: Session, integration_id: int, emails: list[str]) -> dict[str, Row]:
    """The contacts rows of these emails (fields with their clocks, consent, lifetime value), by email."""
    found: dict[str, Row] = {}
    columns = (Contact.email, Contact.fields, Contact.consent, Contact.lifetime_value)
    for start in range(0, len(emails), 5000):
        part = emails[start : start + 5000]
        query = select(*columns).where(Contact.integration_id == integration_id, among(Contact.email, part))
        found.update((row.email, row) for row in session.execute(query))
    return found


def mark_sent(
    session: Session,
    integration_id: int,
    carried: list[Delivery],
    attempt_id: int,
    status_code: int | None,
    job_id: str | None,
    now: datetime,
) -> None:
    """Every delivery of an accepted request is sent: one UPDATE for all of them, then the job to poll. The
    loaded objects are left as they are (record_attempt flushed their earlier changes, and nothing reads them
    after their chunk is accepted)."""
    session.execute(
        update(Delivery)
        .where(among(Delivery.id, [d.id for d in carried]))
        .values(
            status=DeliveryStatus.SENT,
            reason=None if job_id else "accepted without a job id: not verifiable",
            next_attempt_at=None,
            job_id=job_id,
            attempts=Delivery.attempts + 1,
            attempt_id=attempt_id,
            attempt_ids=func.array_append(Delivery.attempt_ids, literal(attempt_id, BigInteger)),
            status_code=status_code,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if job_id:  # a job id SendGrid gave twice is polled once
        job = {
            "job_id": job_id,
            "integration_id": integration_id,
            "status": "pending",
            "contacts_count": len({d.email for d in carried}),
            "polls": 0,
            "next_poll_at": now + timedelta(seconds=1),
            "created_at": now,
        }
        session.execute(insert(ImportJob.__table__).values([job]).on_conflict_do_nothing(index_elements=["job_id"]))
