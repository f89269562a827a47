"""Helpers of the delivery tests: queue work for the flush (the real path or rows in bulk), flush, settle, read back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import func, insert, select, text

from models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventStatus,
    ImportJob,
    ImportJobStatus,
    Integration,
)
from models.base import utcnow
from workers.delivery.flush import flush_integration
from workers.delivery.imports import poll_imports
from workers.delivery.retry import RetryPolicy
from workers.ingest.inbox import Incoming, store_events
from workers.processing.process import process_events

# Backoff small enough for tests; the window is long enough that nothing expires unless a test wants it.
FAST_RETRY = RetryPolicy(base_seconds=0.02, cap_seconds=0.2, window=timedelta(hours=1))


def queue_deliveries(
    db, integration_id: int, contacts: Iterable[tuple[str, dict]], kind: str = "identify"
) -> list[int]:
    """Insert one processed Event and one queued Delivery per (email, patch), in bulk; returns delivery ids."""
    contacts = list(contacts)
    if not contacts:
        return []
    now = utcnow()
    with db.begin() as session:
        event_ids = session.scalars(
            insert(Event).returning(Event.id, sort_by_parameter_order=True),
            [
                {
                    "message_id": str(uuid.uuid4()),
                    "type": kind,
                    "payload": {"type": kind},
                    "status": EventStatus.PROCESSED,
                    "received_at": now,
                    "processed_at": now,
                }
                for _ in contacts
            ],
        ).all()
        return list(
            session.scalars(
                insert(Delivery).returning(Delivery.id, sort_by_parameter_order=True),
                [
                    {
                        "integration_id": integration_id,
                        "event_id": event_id,
                        "kind": kind,
                        "email": email,
                        "patch": patch,
                        "status": DeliveryStatus.QUEUED,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for event_id, (email, patch) in zip(event_ids, contacts, strict=True)
                ],
            ).all()
        )


def queue_many(db, integration_id: int, count: int, prefix: str = "c", patch: dict | None = None) -> None:
    """`count` queued identify deliveries for {prefix}000000@example.com ..., made inside PostgreSQL (fast)."""
    params = {"n": count, "prefix": prefix, "patch": json.dumps(patch or {}), "integration": integration_id}
    with db.begin() as session:
        session.execute(
            text(
                "INSERT INTO events (message_id, type, received_at, payload, status, process_attempts, processed_at) "
                "SELECT :prefix || '-' || i || '-' || gen_random_uuid(), 'identify', now(), '{}'::jsonb, "
                "'processed', 0, now() FROM generate_series(0, :n - 1) AS i"
            ),
            params,
        )
        session.execute(
            text(
                "INSERT INTO deliveries (integration_id, event_id, kind, email, patch, status, attempts, "
                "replay_count, created_at, updated_at) "
                "SELECT :integration, e.id, 'identify', :prefix || lpad(split_part(e.message_id, '-', 2), 6, '0') "
                "|| '@example.com', CAST(:patch AS jsonb), 'queued', 0, 0, now(), now() "
                "FROM events e WHERE e.message_id LIKE :prefix || '-%' ORDER BY e.id"
            ),
            params,
        )


def process(db, events: list[dict]) -> set[int]:
    """The real path: store the events in the inbox and map them into deliveries; returns integrations touched."""
    with db.begin() as session:
        ids = store_events(session, [Incoming(json.dumps(e).encode()) for e in events])
    return set(process_events(db, ids))


def flush(db, integration_id: int, client_for, policy: RetryPolicy = FAST_RETRY):
    return flush_integration(db, integration_id, client_for, policy=policy)


def settle_imports(db, sandbox, client_for) -> int:
    """Apply the sandbox's pending jobs, then poll every job as if five minutes had passed."""
    sandbox.flush_jobs()
    return poll_imports(db, client_for, now=utcnow() + timedelta(minutes=5))


def puts(sandbox) -> list[dict]:
    return [r for r in sandbox.requests_log() if r["method"] == "PUT" and r["path"] == "/v3/marketing/contacts"]


def status_counts(db) -> dict[str, int]:
    with db() as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    return {str(status): n for status, n in rows}


def deliveries(db) -> list[Delivery]:
    with db() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def upsert_attempts(db) -> list[DeliveryAttempt]:
    with db() as session:
        return list(
            session.scalars(
                select(DeliveryAttempt).where(DeliveryAttempt.kind == "upsert").order_by(DeliveryAttempt.id)
            )
        )


def import_jobs(db) -> list[ImportJob]:
    with db() as session:
        return list(session.scalars(select(ImportJob).order_by(ImportJob.id)))


def get_integration(db, integration_id: int) -> Integration:
    with db() as session:
        return session.get(Integration, integration_id)


def pending_jobs(db) -> int:
    with db() as session:
        return session.scalar(select(func.count(ImportJob.id)).where(ImportJob.status == ImportJobStatus.PENDING))


def drain(db, integration_id: int, client_for, policy: RetryPolicy = FAST_RETRY, seconds: float = 20.0) -> int:
    """Flush until no delivery is queued (as beat's sweep would, only faster); returns the flushes made."""
    import time

    deadline = time.monotonic() + seconds
    flushes = 0
    while status_counts(db).get("queued"):
        assert time.monotonic() < deadline, f"still queued after {seconds} s: {status_counts(db)}"
        flush(db, integration_id, client_for, policy)
        flushes += 1
        time.sleep(0.02)
    return flushes
