"""Replay: put failed, import_errored or skipped deliveries back through the normal pipeline.

A replayed delivery is queued again and flushed like any other, and the flush sends the contact's *current*
state for the fields the delivery names: a field a newer event has set since goes out with the newer value,
never the older one, and lifetime value is the stored sum over distinct orders, so a replay never counts an
order twice. Without `remap` a delivery that has its email and patch is simply queued again (the contact's
state already holds what its event changed). With `remap`, or when it has neither (a skipped or failed one),
the stored event is mapped again with the integration's current configuration and decided by processing's
own decision code, as a batch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mapping import MappingConfig
from models import Delivery, DeliveryStatus, Event
from models.base import has_status
from models.delivery import REPLAYABLE
from workers.processing.batch import Batch, Item, visitor_keys
from workers.processing.decide import decide_all


@dataclass
class ReplayFilter:
    status: str | None = "failed"
    since: datetime | None = None
    until: datetime | None = None
    integration_id: int | None = None
    event_type: str | None = None
    message_ids: list[str] = field(default_factory=list)
    email_prefix: str | None = None  # the console's search when it names no message id
    delivery_ids: list[int] = field(default_factory=list)


@dataclass
class ReplayResult:
    matched: int = 0
    requeued: int = 0
    integrations: set[int] = field(default_factory=set)
    not_requeued: Counter[str] = field(default_factory=Counter)  # why a matched delivery stayed where it was


def matching(flt: ReplayFilter):
    status = DeliveryStatus(flt.status or "failed")
    if status not in REPLAYABLE:
        raise ValueError(f"only {', '.join(s.value for s in REPLAYABLE)} deliveries can be replayed")
    query = (
        select(Delivery, Event).join(Event, Event.id == Delivery.event_id).where(has_status(Delivery.status, status))
    )
    query = query.where(Delivery.reason.is_distinct_from("erased"))  # a forgotten person's: nothing left to send
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
    if flt.email_prefix:
        escaped = flt.email_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Delivery.email.like(escaped + "%", escape="\\"))
    if flt.delivery_ids:
        query = query.where(Delivery.id.in_(flt.delivery_ids))
    return query.order_by(Delivery.id)


def count_matching(session: Session, flt: ReplayFilter) -> int:
    """A dry run's count: the deliveries a replay with this filter would take, without locking them."""
    return session.scalar(select(func.count()).select_from(matching(flt).order_by(None).subquery())) or 0


def replay_deliveries(session: Session, flt: ReplayFilter, remap: bool = False, dry_run: bool = False) -> ReplayResult:
    result = ReplayResult()
    rows = session.execute(matching(flt).with_for_update(of=Delivery)).all()
    result.matched = len(rows)
    if dry_run or not rows:
        return result
    batch = Batch(session)
    by_id = {i.id: i for i in batch.integrations}
    again: list[tuple[Delivery, Item]] = []
    for delivery, event in rows:
        integration, config = by_id.get(delivery.integration_id), batch.configs.get(delivery.integration_id)
        if integration is None or not isinstance(config, MappingConfig):
            result.not_requeued["integration disabled, deleted or with an invalid mapping config"] += 1
            continue
        if remap or delivery.patch is None or delivery.email is None:
            mapped = batch.map(event.payload, config, event.received_at)
            again.append((delivery, Item(integration, mapped, delivery.event_id, held_id=delivery.id, replayed=True)))
        else:
            delivery.status, delivery.reason = DeliveryStatus.QUEUED, None
    items = [item for _, item in again]
    batch.load_links({k for i in items for k in visitor_keys(i.mapped.user_id, i.mapped.anonymous_id)})  # one query
    for item in items:
        item.email = item.mapped.email or batch.resolve_email(item.mapped.user_id, item.mapped.anonymous_id)
    decide_all(batch, items)
    for delivery, item in again:
        delivery.email, delivery.status, delivery.reason = item.email, item.row["status"], item.row.get("reason")
        if "patch" in item.row:
            delivery.patch = item.row["patch"]
    batch.save_contacts()
    for delivery, _event in rows:
        if delivery.integration_id not in by_id:
            continue
        delivery.replay_count += 1
        if delivery.status == DeliveryStatus.QUEUED:
            delivery.job_id, delivery.next_attempt_at = None, None
            result.requeued += 1
            result.integrations.add(delivery.integration_id)
        else:
            result.not_requeued[f"decided again: {delivery.status.value} ({delivery.reason or 'no reason'})"] += 1
    return result
