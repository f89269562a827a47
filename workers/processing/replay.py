"""Replay: put failed, import_errored or skipped deliveries back through the normal pipeline.

A replayed delivery is queued again and flushed like any other. Without `remap` it re-sends its stored patch;
with `remap` (or when it has none, like a skipped one) the stored event is mapped again with the integration's
current configuration. Either way a field a newer event has set since is left out, and lifetime value is the
current sum over distinct orders, so a replay never counts an order twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mapping import MappingConfig, map_event, replayable_fields
from models import Delivery, DeliveryStatus, Event
from models.base import has_status, utcnow
from workers.processing.process import Batch, count_order, route

REPLAYABLE = (DeliveryStatus.FAILED, DeliveryStatus.IMPORT_ERRORED, DeliveryStatus.SKIPPED)


@dataclass
class ReplayFilter:
    status: str | None = "failed"
    since: datetime | None = None
    until: datetime | None = None
    integration_id: int | None = None
    event_type: str | None = None
    message_ids: list[str] = field(default_factory=list)


@dataclass
class ReplayResult:
    matched: int = 0
    requeued: int = 0
    integrations: set[int] = field(default_factory=set)


def matching(flt: ReplayFilter):
    status = DeliveryStatus(flt.status or "failed")
    if status not in REPLAYABLE:
        raise ValueError(f"only {', '.join(s.value for s in REPLAYABLE)} deliveries can be replayed")
    query = (
        select(Delivery, Event).join(Event, Event.id == Delivery.event_id).where(has_status(Delivery.status, status))
    )
    if flt.since:
        query = query.where(Delivery.updated_at >= flt.since)
    if flt.until:
        query = query.where(Delivery.updated_at <= flt.until)
    if flt.integration_id is not None:
        query = query.where(Delivery.integration_id == flt.integration_id)
    if flt.event_type:
        query = query.where(or_(Event.type == flt.event_type, Delivery.kind == flt.event_type))
    if flt.message_ids:
        query = query.where(Event.message_id.in_(flt.message_ids))
    return query.order_by(Delivery.id)


def replay_deliveries(session: Session, flt: ReplayFilter, remap: bool = False, dry_run: bool = False) -> ReplayResult:
    result = ReplayResult()
    rows = session.execute(matching(flt).with_for_update(of=Delivery)).all()
    result.matched = len(rows)
    if dry_run or not rows:
        return result
    batch = Batch(session)
    by_id = {i.id: i for i in batch.integrations}
    batch.lock_contacts({(d.integration_id, d.email) for d, _ in rows if d.email})  # one statement, not one each
    for delivery, event in rows:
        integration = by_id.get(delivery.integration_id)
        config = batch.configs.get(delivery.integration_id)
        if integration is None or not isinstance(config, MappingConfig):
            continue
        if remap or delivery.patch is None or delivery.email is None:
            requeue_remapped(batch, integration, delivery, event, config)
        else:
            requeue_stored(batch, delivery, config)
        delivery.replay_count += 1
        if delivery.status == DeliveryStatus.QUEUED:
            delivery.job_id, delivery.next_attempt_at = None, None
            result.requeued += 1
            result.integrations.add(integration.id)
    batch.save_contacts()
    return result


def requeue_stored(batch: Batch, delivery: Delivery, config: MappingConfig) -> None:
    """The stored patch again, less what newer events set since, with today's lifetime value."""
    contact = batch.contact(delivery.integration_id, delivery.email)
    at = delivery.event_at or delivery.created_at
    fields = {k: v for k, v in delivery.patch.items() if k != config.lifetime_value_field}
    patch, state = replayable_fields(current_state(contact), fields, at)
    contact.fields = {k: list(v) for k, v in state.items()}
    if config.lifetime_value_field in delivery.patch:
        patch[config.lifetime_value_field] = float(contact.lifetime_value or Decimal(0))
    delivery.patch = patch
    delivery.status, delivery.reason = DeliveryStatus.QUEUED, None


def requeue_remapped(batch: Batch, integration, delivery: Delivery, event: Event, config: MappingConfig) -> None:
    """Map the stored event again with the current configuration, then route it like a new one."""
    mapped = map_event(event.payload, config, event.received_at or utcnow())
    if mapped.status != "mapped":
        route(batch, integration, delivery, mapped)
        return
    email = mapped.email or batch.resolve_email(mapped.user_id, mapped.anonymous_id)
    if email is None:
        delivery.status, delivery.reason = DeliveryStatus.HELD, "waiting for an identify that gives the email"
        return
    contact = batch.contact(integration.id, email)
    at = mapped.timestamp or utcnow()
    patch, state = replayable_fields(current_state(contact), dict(mapped.fields), at)
    contact.fields = {k: list(v) for k, v in state.items()}
    if mapped.order is not None:
        if count_order(batch.session, integration.id, email, mapped, at):
            contact.lifetime_value = Decimal(contact.lifetime_value or 0) + mapped.order.revenue
        patch[config.lifetime_value_field] = float(contact.lifetime_value or Decimal(0))
    delivery.email, delivery.patch = email, patch
    delivery.status, delivery.reason = DeliveryStatus.QUEUED, None


def current_state(contact) -> dict:
    return {k: tuple(v) for k, v in (contact.fields or {}).items()}
