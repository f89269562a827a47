"""Import verification: poll every SendGrid job id until it finished, then settle its deliveries.

Polling runs only while jobs are due: the beat task asks one cheap question first (any due job of an active
integration?) and returns without a transaction or a log line when there is none."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, case, literal, select, update
from sqlalchemy.orm import Session, sessionmaker

from config.settings import ConfigError
from models import (
    AttemptKind,
    Delivery,
    DeliveryStatus,
    ImportJob,
    ImportJobStatus,
    Integration,
    IntegrationStatus,
)
from models.base import has_status, utcnow
from workers.backoff import Backoff
from workers.delivery.flush import ClientFor
from workers.integrations.status import mark_key_unreadable
from workers.privacy.guard import ERASED, skip_erased
from workers.sendgrid.attempts import record_attempt
from workers.sendgrid.client import SendGridClient

STUCK_AFTER = timedelta(minutes=30)  # SendGrid jobs were seen pending 30+ s; 30 min is beyond any healthy case
MAX_POLL_INTERVAL = 60.0
POLL_BACKOFF = Backoff(base=1.0, cap=MAX_POLL_INTERVAL)  # after poll n: 2**n s, at most a minute
FINISHED = {
    "completed": ImportJobStatus.COMPLETED,
    "errored": ImportJobStatus.ERRORED,
    "failed": ImportJobStatus.FAILED,
}


def jobs_due(session: Session, now: datetime) -> bool:
    """The cheap check: is any job of an active integration due? (an index probe; nothing is locked)"""
    return bool(session.scalar(select(due(now).exists())))


def due(now: datetime):
    """Due jobs of active integrations: a disabled one, or one whose key cannot be read, never blocks the rest."""
    return select(ImportJob.id).where(
        ImportJob.status == ImportJobStatus.PENDING,
        ImportJob.next_poll_at <= now,
        ImportJob.integration_id.in_(select(Integration.id).where(Integration.status == IntegrationStatus.ACTIVE)),
    )


def poll_imports(
    sessions: sessionmaker[Session], client_for: ClientFor, limit: int = 200, now: datetime | None = None
) -> int:
    """Poll the jobs due by `now` once; returns how many finished. Without due jobs this is one cheap query."""
    now = now or utcnow()
    with sessions() as session:
        if not jobs_due(session, now):
            return 0
    finished = 0
    with sessions.begin() as session:
        jobs = session.scalars(
            select(ImportJob)
            .where(ImportJob.id.in_(due(now)))
            .order_by(ImportJob.next_poll_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        clients: dict[int, SendGridClient | None] = {}
        for job in jobs:
            if job.integration_id not in clients:
                clients[job.integration_id] = client_or_none(session, job.integration_id, client_for)
            client = clients[job.integration_id]
            if client is None:
                continue
            answer = client.import_status(job.job_id)
            record_attempt(session, job.integration_id, AttemptKind.IMPORT_POLL, answer)
            job.polls += 1
            body = answer.body if answer.ok and isinstance(answer.body, dict) else {}
            status = FINISHED.get(str(body.get("status", "")).lower())
            if status is None:
                pending(session, job, now)
                continue
            settle(session, job, status, body.get("results") or {})
            finished += 1
    return finished


def client_or_none(session: Session, integration_id: int, client_for: ClientFor) -> SendGridClient | None:
    """The integration's client; None when its key cannot be decrypted here (marked key_unreadable, so its
    jobs wait without holding up the others' and are polled again once it is active)."""
    integration = session.get(Integration, integration_id)
    if integration is None:
        return None
    try:
        return client_for(integration)
    except ConfigError as e:
        mark_key_unreadable(integration, e)
        return None


def pending(session: Session, job: ImportJob, now) -> None:
    if now - job.created_at > STUCK_AFTER:
        job.status = ImportJobStatus.STUCK
        set_reason(
            session, job, f"SendGrid import job {job.job_id} still pending after {STUCK_AFTER}: check it in SendGrid"
        )
        return
    job.next_poll_at = now + timedelta(seconds=POLL_BACKOFF.delay(job.polls))


def settle(session: Session, job: ImportJob, status: ImportJobStatus, results: dict) -> None:
    job.status, job.results, job.finished_at = status, results, utcnow()
    if status == ImportJobStatus.COMPLETED:
        outcome, reason = DeliveryStatus.SUCCEEDED, None
    else:
        counts = ", ".join(f"{k.removesuffix('_count')} {v}" for k, v in results.items() if k.endswith("_count"))
        outcome = DeliveryStatus.IMPORT_ERRORED
        reason = f"SendGrid import {status.value}: {counts or 'no counts'}; errors: {results.get('errors_url', 'n/a')}"
    sent = (Delivery.job_id == job.job_id, has_status(Delivery.status, DeliveryStatus.SENT))
    columns = (Delivery.id, Delivery.email, Delivery.user_id, Delivery.anonymous_id, Delivery.event_at)
    skip_erased(session, session.execute(select(*columns, Delivery.created_at).where(*sent)).all(), None)
    session.execute(
        update(Delivery)
        .where(*sent)
        .values(status=outcome, reason=erased_or(reason), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def erased_or(reason: str | None):
    """A delivery of an erased person keeps the reason `erased` (replay leaves it alone)."""
    return case((Delivery.reason == ERASED, ERASED), else_=literal(reason, String))


def set_reason(session: Session, job: ImportJob, reason: str) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.job_id == job.job_id, has_status(Delivery.status, DeliveryStatus.SENT))
        .values(reason=reason, updated_at=utcnow())
    )
