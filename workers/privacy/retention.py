"""Retention: after SIGNAL_RETENTION_DAYS the heavy columns go, the rows stay.

What goes: events' `payload` and `raw_body` (processed, rejected or failed events; never one still waiting, nor
one a held delivery will be mapped from again), deliveries' `patch` (once no longer held or queued) and
attempts' `error` text. The rows, their statuses, types, times and counts stay, so Live Events and the statistics
count what they always counted; contacts, orders and identity links are the state and are not touched.

In small batches (BATCH rows per transaction, `FOR UPDATE SKIP LOCKED`, oldest first through partial indexes
that only hold the rows still to do), so no lock is held long and the pipeline never waits for it.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import null, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from models import Delivery, DeliveryAttempt, DeliveryStatus, Erasure, ErasureStatus, Event, EventStatus
from models.base import has_status, utcnow

log = logging.getLogger(__name__)
BATCH = 1000
BUDGET_SECONDS = 20.0  # one beat run; what is left waits for the next


def _events(cutoff: datetime, batch: int):
    held = select(Delivery.event_id).where(has_status(Delivery.status, DeliveryStatus.HELD))
    ids = (
        select(Event.id)
        .where(or_(Event.payload.is_not(None), Event.raw_body.is_not(None)), Event.received_at < cutoff)
        .where(Event.status != EventStatus.RECEIVED, Event.id.not_in(held))
        .order_by(Event.received_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    return update(Event).where(Event.id.in_(ids.scalar_subquery())).values(payload=null(), raw_body=None)


def _patches(cutoff: datetime, batch: int):
    ids = (
        select(Delivery.id)
        .where(Delivery.patch.is_not(None), Delivery.created_at < cutoff)
        .where(Delivery.status.not_in([DeliveryStatus.HELD, DeliveryStatus.QUEUED]))
        .order_by(Delivery.created_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    return update(Delivery).where(Delivery.id.in_(ids.scalar_subquery())).values(patch=null())


def _errors(cutoff: datetime, batch: int):
    ids = (
        select(DeliveryAttempt.id)
        .where(DeliveryAttempt.error.is_not(None), DeliveryAttempt.created_at < cutoff)
        .order_by(DeliveryAttempt.created_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    return update(DeliveryAttempt).where(DeliveryAttempt.id.in_(ids.scalar_subquery())).values(error=None)


TARGETS = {"events": _events, "deliveries": _patches, "delivery_attempts": _errors}


def apply_retention(
    sessions: sessionmaker[Session],
    retention: timedelta,
    now: datetime | None = None,
    batch: int = BATCH,
    budget: float = BUDGET_SECONDS,
) -> dict[str, int]:
    """Strip what is older than `retention` (strictly: a row exactly at the cutoff stays); rows changed per table."""
    cutoff, started = (now or utcnow()) - retention, time.monotonic()
    removed = dict.fromkeys(TARGETS, 0)
    for table, statement in TARGETS.items():
        while time.monotonic() - started < budget:
            with sessions.begin() as session:
                n = session.execute(statement(cutoff, batch).execution_options(synchronize_session=False)).rowcount
            removed[table] += n or 0
            if (n or 0) < batch:
                break
    if any(removed.values()):
        log.info("retention (older than %s): %s", cutoff.isoformat(timespec="seconds"), removed)
    else:
        log.debug("retention: nothing older than %s", cutoff.isoformat(timespec="seconds"))
    return removed


def overdue_erasures(session: Session, late: timedelta = timedelta(minutes=2)) -> list[int]:
    """Erasures whose next pass is overdue (its retried trigger was lost): the beat triggers them again."""
    return list(
        session.scalars(
            select(Erasure.id).where(
                Erasure.status.in_([ErasureStatus.PENDING, ErasureStatus.LOCAL_DONE]),
                Erasure.next_attempt_at < utcnow() - late,
            )
        )
    )


_SIZES = text(
    "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND n.nspname = current_schema() ORDER BY 2 DESC, 1"
)


def table_sizes(session: Session) -> dict[str, int]:
    """Bytes per table, indexes and TOAST included (pg_total_relation_size)."""
    return {name: int(size) for name, size in session.execute(_SIZES)}
