"""Consent changes forwarded to the integration's unsubscribe group."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models import AttemptKind, Contact, Integration
from models.contact import CONSENT_UNFORWARDED
from workers.delivery.report import FlushReport
from workers.sendgrid.attempts import record_attempt
from workers.sendgrid.client import SendGridClient


def sync_suppressions(session: Session, integration: Integration, client: SendGridClient, report: FlushReport) -> None:
    """Forward consent changes to the integration's unsubscribe group: withdrawals added, grants removed."""
    group = integration.unsubscribe_group_id
    if group is None:
        return
    contacts = session.scalars(
        select(Contact).where(Contact.integration_id == integration.id, text(CONSENT_UNFORWARDED))
    ).all()
    withdraw = [c for c in contacts if c.consent is False]
    for start in range(0, len(withdraw), 1000):
        part = withdraw[start : start + 1000]
        answer = client.suppress(group, [c.email for c in part])
        record_attempt(session, integration.id, AttemptKind.SUPPRESSION, answer, len(part))
        report.requests += 1
        if answer.ok:
            for contact in part:
                contact.suppressed = True
    for contact in (c for c in contacts if c.consent is True):
        answer = client.unsuppress(group, contact.email)
        record_attempt(session, integration.id, AttemptKind.SUPPRESSION, answer, 1)
        report.requests += 1
        if answer.ok or answer.status == 404:
            contact.suppressed = False
