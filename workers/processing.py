"""Turn stored events into deliveries: map, resolve identity, keep field clocks, count orders once.

`process_events` is what the Celery task `signal.process_events` runs; tests call it directly.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mapping import MappedEvent, MappingConfig, map_event, newer_fields
from models import Contact, Delivery, DeliveryStatus, Event, EventStatus, Identity, Integration, Order
from models.base import utcnow
from models.db import insert_ignoring_conflicts

log = logging.getLogger(__name__)

MAX_PROCESS_ATTEMPTS = 3  # an event whose processing crashes this often is set aside as failed (poison)
DEFAULT_CONFIG = MappingConfig()


class Batch:
    """Per-call caches: integrations, their mapping configs, identity links seen in this batch."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.integrations = list(session.scalars(select(Integration).order_by(Integration.id)))
        self.configs: dict[int, MappingConfig | str] = {}
        for integration in self.integrations:
            try:
                self.configs[integration.id] = MappingConfig.from_dict(integration.config or {})
            except ValueError as e:  # a stored config SendGrid would refuse: its deliveries fail, others go on
                self.configs[integration.id] = f"integration {integration.id} has an invalid mapping config: {e}"
        self.touched: set[int] = set()

    def resolve_email(self, user_id: str | None, anonymous_id: str | None) -> str | None:
        for kind, value in (("user", user_id), ("anonymous", anonymous_id)):
            if value:
                email = self.session.scalar(
                    select(Identity.email).where(Identity.kind == kind, Identity.value == value)
                )
                if email:
                    return email
        return None


def process_events(session: Session, event_ids: list[int]) -> set[int]:
    """Map the given received events into deliveries; returns the integrations that got queued work."""
    query = select(Event).where(Event.id.in_(event_ids), Event.status == EventStatus.RECEIVED).order_by(Event.id)
    events = list(session.scalars(query.with_for_update(skip_locked=True)))
    if not events:
        return set()
    batch = Batch(session)
    for event in events:
        event.process_attempts += 1
        try:
            with session.begin_nested():
                process_one(batch, event)
        except Exception as e:  # one bad event never stops the batch
            log.exception("processing event %s crashed (attempt %s)", event.id, event.process_attempts)
            if event.process_attempts >= MAX_PROCESS_ATTEMPTS:
                event.status = EventStatus.FAILED
                event.reason = f"processing crashed {event.process_attempts} times: {type(e).__name__}: {e}"[:2000]
    return batch.touched


def process_one(batch: Batch, event: Event) -> None:
    received_at = event.received_at or utcnow()
    checked = map_event(event.payload, DEFAULT_CONFIG, received_at)
    event.processed_at = utcnow()
    if checked.status == "rejected":
        event.status = EventStatus.REJECTED
        event.reason = checked.reason
        return
    if checked.kind == "identify" and checked.email and checked.consent is not False:
        link_identity(batch, checked)
    for integration in batch.integrations:
        config = batch.configs[integration.id]
        if isinstance(config, str):
            batch.session.add(
                Delivery(integration_id=integration.id, event_id=event.id, status=DeliveryStatus.FAILED, reason=config)
            )
            continue
        mapped = checked if config == DEFAULT_CONFIG else map_event(event.payload, config, received_at)
        delivery = Delivery(
            integration_id=integration.id,
            event_id=event.id,
            kind=mapped.kind,
            user_id=mapped.user_id,
            anonymous_id=mapped.anonymous_id,
            event_at=mapped.timestamp,
        )
        batch.session.add(delivery)
        route(batch, integration, delivery, mapped)
    if checked.kind == "identify" and checked.email:
        release_held(batch, checked)
    event.status = EventStatus.PROCESSED


def route(batch: Batch, integration: Integration, delivery: Delivery, mapped: MappedEvent) -> None:
    """Decide a new delivery's status: skipped, held until an identify, or queued with its patch."""
    email = mapped.email or batch.resolve_email(mapped.user_id, mapped.anonymous_id)
    delivery.email = email
    if mapped.status == "rejected":  # a per-integration field mapping can reject what the default accepted
        delivery.status, delivery.reason = DeliveryStatus.FAILED, mapped.reason
    elif mapped.status == "skipped":
        delivery.status, delivery.reason = DeliveryStatus.SKIPPED, mapped.reason
        if email and mapped.consent is not None:
            set_consent(lock_contact(batch.session, integration.id, email), mapped.consent, mapped.timestamp)
            batch.touched.add(integration.id)
    elif email is None:
        delivery.status, delivery.reason = DeliveryStatus.HELD, "waiting for an identify that gives the email"
    else:
        queue(batch, integration, delivery, mapped, email)


def queue(batch: Batch, integration: Integration, delivery: Delivery, mapped: MappedEvent, email: str) -> None:
    session = batch.session
    config = batch.configs[integration.id]
    assert isinstance(config, MappingConfig)
    contact = lock_contact(session, integration.id, email)
    if mapped.consent is not None:
        set_consent(contact, mapped.consent, mapped.timestamp)
    at = mapped.timestamp or utcnow()
    current = {k: tuple(v) for k, v in (contact.fields or {}).items()}
    patch, state = newer_fields(current, dict(mapped.fields), at)
    contact.fields = {k: list(v) for k, v in state.items()}
    if mapped.order is not None and count_order(session, integration.id, email, mapped, at):
        contact.lifetime_value = Decimal(contact.lifetime_value or 0) + mapped.order.revenue
        patch[config.lifetime_value_field] = float(contact.lifetime_value)
    delivery.email = email
    if not patch and mapped.kind != "identify":
        delivery.status, delivery.reason = DeliveryStatus.SKIPPED, "superseded: a newer event already set these fields"
        return
    delivery.patch = patch
    delivery.status, delivery.reason = DeliveryStatus.QUEUED, None
    batch.touched.add(integration.id)


def count_order(session: Session, integration_id: int, email: str, mapped: MappedEvent, at: datetime) -> bool:
    """Store the order once per integration and order_id; True when it is new (so it adds to LTV)."""
    order = mapped.order
    assert order is not None
    inserted = insert_ignoring_conflicts(
        session,
        Order.__table__,
        [
            {
                "integration_id": integration_id,
                "email": email,
                "order_id": order.order_id,
                "revenue": order.revenue,
                "currency": order.currency,
                "ordered_at": at,
                "created_at": utcnow(),
            }
        ],
        "integration_id",
        "order_id",
    )
    return inserted == 1


def lock_contact(session: Session, integration_id: int, email: str) -> Contact:
    """The contact row, created if new, locked until commit so field clocks never race."""
    query = select(Contact).where(Contact.integration_id == integration_id, Contact.email == email)
    contact = session.scalar(query.with_for_update())
    if contact is None:
        insert_ignoring_conflicts(
            session,
            Contact.__table__,
            [
                {
                    "integration_id": integration_id,
                    "email": email,
                    "fields": {},
                    "lifetime_value": Decimal(0),
                    "suppressed": False,
                    "updated_at": utcnow(),
                }
            ],
            "integration_id",
            "email",
        )
        contact = session.scalar(query.with_for_update().execution_options(populate_existing=True))
    assert contact is not None
    return contact


def set_consent(contact: Contact, granted: bool, at: datetime | None) -> None:
    """Newest consent state wins, like any other field."""
    if at is not None and contact.consent_at is not None and at < contact.consent_at:
        return
    contact.consent, contact.consent_at = granted, at or utcnow()


def link_identity(batch: Batch, mapped: MappedEvent) -> None:
    """Remember userId / anonymousId -> email; a newer identify re-links, an older one does not."""
    at = mapped.timestamp or utcnow()
    for kind, value in (("user", mapped.user_id), ("anonymous", mapped.anonymous_id)):
        if not value:
            continue
        found = batch.session.scalar(
            select(Identity).where(Identity.kind == kind, Identity.value == value).with_for_update()
        )
        if found is None:
            batch.session.add(Identity(kind=kind, value=value, email=mapped.email, linked_at=at))
            batch.session.flush()
        elif at >= found.linked_at:
            found.email, found.linked_at = mapped.email, at


def release_held(batch: Batch, mapped: MappedEvent) -> None:
    """Deliveries held for this visitor are mapped again now that the email is known."""
    keys = []
    if mapped.user_id:
        keys.append(Delivery.user_id == mapped.user_id)
    if mapped.anonymous_id:
        keys.append(Delivery.anonymous_id == mapped.anonymous_id)
    if not keys:
        return
    held = batch.session.scalars(
        select(Delivery).where(Delivery.status == DeliveryStatus.HELD, or_(*keys)).order_by(Delivery.id)
    ).all()
    by_id = {i.id: i for i in batch.integrations}
    for delivery in held:
        integration = by_id.get(delivery.integration_id)
        event = batch.session.get(Event, delivery.event_id)
        config = batch.configs.get(delivery.integration_id)
        if integration is None or event is None or not isinstance(config, MappingConfig):
            continue
        remapped = map_event(event.payload, config, event.received_at or utcnow())
        if remapped.status != "mapped":
            delivery.status, delivery.reason = DeliveryStatus.SKIPPED, remapped.reason
            continue
        queue(batch, integration, delivery, remapped, mapped.email)
