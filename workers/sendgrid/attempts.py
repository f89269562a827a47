"""Recording every HTTP request to SendGrid as a delivery attempt."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models import AttemptKind, DeliveryAttempt
from workers.sendgrid.client import SendGridResponse


def record_attempt(
    session: Session, integration_id: int, kind: AttemptKind, answer: SendGridResponse, contacts: int = 0
) -> DeliveryAttempt:
    attempt = DeliveryAttempt(
        integration_id=integration_id,
        kind=kind,
        method=answer.method,
        path=answer.path[:300],
        status_code=answer.status,
        latency_ms=answer.latency_ms,
        contacts_count=contacts,
        body_bytes=answer.request_bytes,
        job_id=answer.job_id,
        ratelimit_limit=answer.ratelimit.limit,
        ratelimit_remaining=answer.ratelimit.remaining,
        ratelimit_reset=answer.ratelimit.reset,
        error=None if answer.ok else answer.message[:2000],
    )
    session.add(attempt)
    session.flush()
    return attempt
