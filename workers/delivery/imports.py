"""Import verification: poll every SendGrid job id until it finished, then settle its deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from models import AttemptKind, Delivery, DeliveryStatus, ImportJob, ImportJobStatus, Integration
from models.base import has_status, utcnow
from workers.delivery.flush import ClientFor
from workers.sendgrid.attempts import record_attempt

STUCK_AFTER = timedelta(minutes=30)  # SendGrid jobs were seen pending 30+ s; 30 min is beyond any healthy case
MAX_POLL_INTERVAL = 60.0
FINISHED = {
    "completed": ImportJobStatus.COMPLETED,
    "errored": ImportJobStatus.ERRORED,
    "failed": ImportJobStatus.FAILED,
}


def poll_imports(
    sessions: sessionmaker[Session], client_for: ClientFor, limit: int = 200, now: datetime | None = None
) -> int:
    """Poll the jobs due by `now` once; returns how many finished."""
    finished = 0
    with sessions.begin() as session:
        now = now or utcnow()
        jobs = session.scalars(
            select(ImportJob)
            .where(ImportJob.status == ImportJobStatus.PENDING, ImportJob.next_poll_at <= now)
            .order_by(ImportJob.next_poll_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        clients = {}
        for job in jobs:
            integration = session.get(Integration, job.integration_id)
            if integration is None:
                continue
            client = clients.setdefault(integration.id, client_for(integration))
            answer = client.import_status(job.job_id)
            record_attempt(session, integration.id, AttemptKind.IMPORT_POLL, answer)
            job.polls += 1
            body = answer.body if answer.ok and isinstance(answer.body, dict) else {}
            status = FINISHED.get(str(body.get("status", "")).lower())
            if status is None:
                pending(session, job, now)
                continue
            settle(session, job, status, body.get("results") or {})
            finished += 1
    return finished


def pending(session: Session, job: ImportJob, now) -> None:
    if now - job.created_at > STUCK_AFTER:
        job.status = ImportJobStatus.STUCK
        set_reason(
            session, job, f"SendGrid import job {job.job_id} still pending after {STUCK_AFTER}: check it in SendGrid"
        )
        return
    job.next_poll_at = now + timedelta(seconds=min(2.0**job.polls, MAX_POLL_INTERVAL))


def settle(session: Session, job: ImportJob, status: ImportJobStatus, results: dict) -> None:
    job.status, job.results, job.finished_at = status, results, utcnow()
    if status == ImportJobStatus.COMPLETED:
        outcome, reason = DeliveryStatus.SUCCEEDED, None
    else:
        counts = ", ".join(f"{k.removesuffix('_count')} {v}" for k, v in results.items() if k.endswith("_count"))
        outcome = DeliveryStatus.IMPORT_ERRORED
        reason = f"SendGrid import {status.value}: {counts or 'no counts'}; errors: {results.get('errors_url', 'n/a')}"
    session.execute(
        update(Delivery)
        .where(Delivery.job_id == job.job_id, has_status(Delivery.status, DeliveryStatus.SENT))
        .values(status=outcome, reason=reason, updated_at=utcnow())
    )


def set_reason(session: Session, job: ImportJob, reason: str) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.job_id == job.job_id, has_status(Delivery.status, DeliveryStatus.SENT))
        .values(reason=reason, updated_at=utcnow())
    )
