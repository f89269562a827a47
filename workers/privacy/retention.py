"""Retention: after SIGNAL_RETENTION_DAYS an event goes, with its deliveries; their counts stay.

Deleted: events received before the cutoff (processed, rejected or failed; never one still waiting, nor one with
a delivery still held, queued or sent) and, through the foreign key, their deliveries: the payload, the raw body,
the patch, the email and ids they carried. Before the delete the same transaction adds them to `retained_counts`
(per day, status, kind and integration), which the statistics add to the rows still stored, so `stats` still
counts every event ever received. Attempts stay (one per HTTP request, a few per thousand events) without their
error text. Contacts, orders, identity links, suppressions and erasure records are the state: not touched.

In small batches (BATCH events per transaction, `FOR UPDATE SKIP LOCKED`, oldest first by an index on
`received_at`), so no lock is held long and the pipeline never waits for it; the space is reused after VACUUM
(autovacuum), so under a steady stream the database stops growing once the retention period has passed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from sqlalchemy import Date, cast, delete, exists, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from models import Delivery, DeliveryAttempt, DeliveryStatus, Erasure, ErasureStatus, Event, EventStatus, RetainedCount
from models.base import utcnow
from models.db import among

log = logging.getLogger(__name__)
BATCH = 1000
BUDGET_SECONDS = 20.0  # one beat run; what is left waits for the next
WAITING = (DeliveryStatus.HELD, DeliveryStatus.QUEUED, DeliveryStatus.SENT)


def _oldest_events(cutoff: datetime, batch: int):
    waiting = exists().where(Delivery.event_id == Event.id, Delivery.status.in_(WAITING))
    return (
        select(Event.id)
        .where(Event.received_at < cutoff, Event.status != EventStatus.RECEIVED, ~waiting)
        .order_by(Event.received_at)
        .limit(batch)
        .with_for_update(of=Event, skip_locked=True)
    )


def _count(ids: list[int]):
    """INSERT INTO retained_counts the counts of these events and their deliveries (added to what is there)."""
    e_day, d_day = (
        cast(func.timezone("UTC", Event.received_at), Date),
        cast(func.timezone("UTC", Delivery.created_at), Date),
    )
    events = select(e_day, literal("events"), literal(0), Event.status, func.coalesce(Event.type, ""), func.count())
    events = events.where(among(Event.id, ids)).group_by(e_day, Event.status, Event.type)
    deliveries = select(d_day, literal("deliveries"), Delivery.integration_id, Delivery.status,
                        func.coalesce(Delivery.kind, ""), func.count())  # fmt: skip
    deliveries = deliveries.where(among(Delivery.event_id, ids)).group_by(
        d_day, Delivery.integration_id, Delivery.status, Delivery.kind
    )
    columns = ["day", "record", "integration_id", "status", "kind", "count"]
    statements = []
    for rows in (events, deliveries):
        stmt = insert(RetainedCount).from_select(columns, rows)
        statements.append(
            stmt.on_conflict_do_update(
                constraint="uq_retained_counts_key", set_={"count": RetainedCount.count + stmt.excluded.count}
            )
        )
    return statements


def delete_events(session: Session, cutoff: datetime, batch: int) -> tuple[int, int]:
    """One batch: (events, deliveries) deleted, their counts kept."""
    ids = list(session.scalars(_oldest_events(cutoff, batch)))
    if not ids:
        return 0, 0
    for statement in _count(ids):
        session.execute(statement)
    deliveries = session.scalar(select(func.count()).where(among(Delivery.event_id, ids)))
    session.execute(delete(Event).where(among(Event.id, ids)).execution_options(synchronize_session=False))
    return len(ids), deliveries or 0


def strip_errors(session: Session, cutoff: datetime, batch: int) -> int:
    ids = (
        select(DeliveryAttempt.id)
        .where(DeliveryAttempt.error.is_not(None), DeliveryAttempt.created_at < cutoff)
        .order_by(DeliveryAttempt.created_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    statement = update(DeliveryAttempt).where(DeliveryAttempt.id.in_(ids.scalar_subquery())).values(error=None)
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0


def apply_retention(
    sessions: sessionmaker[Session],
    retention: timedelta,
    now: datetime | None = None,
    batch: int = BATCH,
    budget: float = BUDGET_SECONDS,
) -> dict[str, int]:
    """Remove what is older than `retention` (strictly: a row exactly at the cutoff stays); rows per table."""
    cutoff, started = (now or utcnow()) - retention, time.monotonic()
    removed = {"events": 0, "deliveries": 0, "delivery_attempts": 0}
    while time.monotonic() - started < budget:
        with sessions.begin() as session:
            events, deliveries = delete_events(session, cutoff, batch)
        removed["events"] += events
        removed["deliveries"] += deliveries
        if events < batch:
            break
    while time.monotonic() - started < budget:
        with sessions.begin() as session:
            n = strip_errors(session, cutoff, batch)
        removed["delivery_attempts"] += n
        if n < batch:
            break
    if any(removed.values()):
        log.info("retention (older than %s): %s", cutoff.isoformat(timespec="seconds"), removed)
    else:
        log.debug("retention: nothing older than %s", cutoff.isoformat(timespec="seconds"))
    return removed


def retained_counts(session: Session) -> dict[str, dict[str, int]]:
    """What retention deleted, by record and status (the statistics add it to the stored rows)."""
    counts: dict[str, dict[str, int]] = {"events": {}, "deliveries": {}}
    query = select(RetainedCount.record, RetainedCount.status, func.sum(RetainedCount.count)).group_by(
        RetainedCount.record, RetainedCount.status
    )
    for record, status, total in session.execute(query):
        counts.setdefault(record, {})[status] = int(total)
    return counts


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
