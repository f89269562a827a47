"""What the console's Overview reads: deliveries per time bucket by outcome, the backlog, the failure rate, the p95
latency from receipt to SendGrid's answer, and the oldest waiting item.

Every query is bounded so that it stays cheap with millions of deliveries: the buckets read one time range of
the index on deliveries.created_at (status included: an index-only scan); the backlog counts stop at
BACKLOG_CAP on the partial indexes of each status; the latency takes the LATENCY_SAMPLE newest sent deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from models import Delivery, DeliveryAttempt, DeliveryStatus, Event, EventStatus
from models.base import has_status
from workers.services.vocabulary import REJECTED

BACKLOG_CAP = 100_000  # counts above this show as "100,000+"
LATENCY_SAMPLE = 5_000
S = DeliveryStatus
# Outcomes in the order the chart stacks them (rejected: events refused at processing, which have no delivery).
OUTCOMES = (S.SUCCEEDED, S.SENT, S.QUEUED, S.HELD, S.SKIPPED, S.IMPORT_ERRORED, S.FAILED, REJECTED)
FAILED = (S.FAILED, S.IMPORT_ERRORED)
ANSWERED = (S.SUCCEEDED, S.SENT, *FAILED)  # SendGrid has answered: the failure rate's denominator


@dataclass
class Window:
    since: datetime
    bucket_seconds: int
    counts: dict[int, dict[str, int]]  # bucket start (Unix seconds) -> outcome -> deliveries

    def total(self, outcomes: tuple[str, ...]) -> int:
        return sum(n for bucket in self.counts.values() for name, n in bucket.items() if name in outcomes)

    @property
    def failure_rate(self) -> float | None:
        answered = self.total(ANSWERED)
        return self.total(FAILED) / answered if answered else None


def _bucket(column, seconds: int):
    epoch = cast(func.extract("epoch", column), Integer)
    return (epoch // seconds) * seconds  # the start of the bucket


def bucket_query(since: datetime, bucket_seconds: int, until: datetime | None = None):
    """Deliveries made since `since` (and before `until`) by bucket and status: one range of ix_deliveries_created
    (status included)."""
    bucket = _bucket(Delivery.created_at, bucket_seconds).label("bucket")
    query = select(bucket, Delivery.status, func.count()).where(Delivery.created_at >= since)
    if until is not None:
        query = query.where(Delivery.created_at < until)
    return query.group_by(bucket, Delivery.status)


def window(
    session: Session, now: datetime, span: timedelta, bucket_seconds: int, until: datetime | None = None
) -> Window:
    """Deliveries (and rejected events) of the `span` before `now` by bucket and outcome, stopping at `until`."""
    since = now - span
    rows = session.execute(bucket_query(since, bucket_seconds, until)).all()
    rejected_bucket = _bucket(Event.processed_at, bucket_seconds).label("bucket")
    rejected_query = select(rejected_bucket, func.count()).where(
        Event.status.in_([EventStatus.REJECTED, EventStatus.FAILED]), Event.processed_at >= since
    )
    if until is not None:
        rejected_query = rejected_query.where(Event.processed_at < until)
    rejected = session.execute(rejected_query.group_by(rejected_bucket)).all()
    counts: dict[int, dict[str, int]] = {}
    for start, status, n in rows:
        counts.setdefault(int(start), {})[DeliveryStatus(status).value] = n
    for start, n in rejected:
        counts.setdefault(int(start), {})[REJECTED] = n
    return Window(since, bucket_seconds, counts)


def capped_count(session: Session, query) -> int:
    return session.scalar(select(func.count()).select_from(query.limit(BACKLOG_CAP + 1).subquery())) or 0


@dataclass
class Backlog:
    waiting_events: int
    queued: int
    held: int
    sent: int  # accepted by SendGrid (202), the import job not settled yet
    oldest: tuple[str, datetime] | None  # (what, since when) of the oldest waiting item


def backlog(session: Session) -> Backlog:
    waiting = select(Event.id).where(has_status(Event.status, EventStatus.RECEIVED))

    def deliveries(status: DeliveryStatus):
        return select(Delivery.id).where(has_status(Delivery.status, status))

    candidates = []
    oldest_event = session.scalar(waiting.with_only_columns(Event.received_at).order_by(Event.id).limit(1))
    if oldest_event:
        candidates.append(("event waiting to be processed", oldest_event))
    for status, what in ((DeliveryStatus.QUEUED, "queued delivery"), (DeliveryStatus.HELD, "held delivery")):
        query = deliveries(status).with_only_columns(Delivery.created_at).order_by(Delivery.created_at).limit(1)
        found = session.scalar(query)
        if found:
            candidates.append((what, found))
    return Backlog(
        waiting_events=capped_count(session, waiting),
        queued=capped_count(session, deliveries(DeliveryStatus.QUEUED)),
        held=capped_count(session, deliveries(DeliveryStatus.HELD)),
        sent=capped_count(session, deliveries(DeliveryStatus.SENT)),
        oldest=min(candidates, key=lambda c: c[1]) if candidates else None,
    )


def p95_latency_ms(session: Session, since: datetime) -> tuple[float | None, int]:
    """The 95th percentile of receipt -> SendGrid's answer (the upsert that carried the delivery), in ms, over
    the newest LATENCY_SAMPLE deliveries created since `since` that were sent; and the sample's size."""
    answered = DeliveryAttempt.created_at
    sample = (
        select(
            # Never below 0: the two times come from the clocks of two processes (ingest, the flush).
            func.greatest(func.extract("epoch", answered - Event.received_at) * 1000, 0).label("ms"),
        )
        .select_from(Delivery)
        .join(DeliveryAttempt, DeliveryAttempt.id == Delivery.attempt_id)
        .join(Event, Event.id == Delivery.event_id)
        .where(Delivery.created_at >= since, Delivery.attempt_id.is_not(None))
        .order_by(Delivery.created_at.desc())
        .limit(LATENCY_SAMPLE)
        .subquery()
    )
    p95, size = session.execute(
        select(func.percentile_cont(0.95).within_group(sample.c.ms), func.count()).select_from(sample)
    ).one()
    return (float(p95) if p95 is not None else None), size
