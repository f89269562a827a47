"""The sweep: finds work whose trigger was lost, integrations whose pause ended, held events past their window."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from config.settings import load_settings
from models import Contact, Delivery, DeliveryStatus, Event, EventStatus, Integration, IntegrationStatus
from models.base import has_status, utcnow
from models.contact import CONSENT_UNFORWARDED
from workers.processing.process import release_linked_held

LOST_TRIGGER_AFTER = timedelta(seconds=30)
UNRELEASED_AFTER = timedelta(seconds=30)


def hold_window() -> timedelta:
    return load_settings().hold_window


@dataclass
class SweepResult:
    events_to_process: list[int] = field(default_factory=list)
    integrations_to_flush: list[int] = field(default_factory=list)
    expired_held: int = 0
    released_held: int = 0  # held deliveries whose visitor was linked, released by the backstop (expected: 0)


def sweep(session: Session, lost_after: timedelta = LOST_TRIGGER_AFTER, find_lost_triggers: bool = True) -> SweepResult:
    """What to re-trigger. With find_lost_triggers=False (triggers are still waiting in the task queue, so
    events older than `lost_after` are behind them, not lost), waiting events are left to those triggers:
    re-triggering a backlog would only make the workers claim the same events twice."""
    now = utcnow()
    result = SweepResult()
    if find_lost_triggers:
        result.events_to_process = list(
            session.scalars(
                select(Event.id)
                .where(has_status(Event.status, EventStatus.RECEIVED), Event.received_at < now - lost_after)
                .order_by(Event.id)
                .limit(10_000)
            )
        )
    # Before the query below, which then finds the integrations of what it released (queued in this transaction).
    result.released_held, _touched = release_linked_held(session, UNRELEASED_AFTER)
    ready = or_(Integration.paused_until.is_(None), Integration.paused_until <= now)
    queued = (
        select(Delivery.id)
        .where(Delivery.integration_id == Integration.id, has_status(Delivery.status, DeliveryStatus.QUEUED))
        .exists()
    )
    # A consent change is forwarded by a flush; one whose trigger was lost has no queued delivery to show for it.
    has_group = func.coalesce(Integration.config["unsubscribe_group_id"].as_string(), "") != ""
    consent_to_forward = has_group & (
        select(Contact.id).where(Contact.integration_id == Integration.id, text(CONSENT_UNFORWARDED)).exists()
    )
    result.integrations_to_flush = list(
        session.scalars(
            select(Integration.id).where(
                Integration.status == IntegrationStatus.ACTIVE, ready, or_(queued, consent_to_forward)
            )
        )
    )
    expired = session.execute(
        update(Delivery)
        .where(has_status(Delivery.status, DeliveryStatus.HELD), Delivery.created_at < now - hold_window())
        .values(status=DeliveryStatus.SKIPPED, reason="no_identity: no identify linked this visitor to an email")
    )
    result.expired_held = expired.rowcount or 0
    return result
