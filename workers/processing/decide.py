"""Deciding one (event, integration) pair: failed, skipped, held until an identify, or queued with the fields it
changed in the contact's state (newest by event time wins)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from mapping import MappingConfig, Status, newer_fields
from models import DeliveryStatus
from models.base import utcnow
from workers.processing.batch import Batch, Item
from workers.processing.store import ContactState

HELD_REASON = "waiting for an identify that gives the email"


def decide_all(batch: Batch, items: list[Item]) -> None:
    """Decide every item of a batch: its new orders stored once, its contacts locked (in key order), then each
    item in turn (processing, a release of held deliveries and replay all decide this way)."""
    batch.insert_orders(items)
    batch.lock_contacts({(i.integration.id, i.email) for i in items if i.email})
    for item in items:
        decide(batch, item)


def decide(batch: Batch, item: Item) -> None:
    """A delivery's status and patch: failed, skipped, held until an identify, or queued."""
    mapped, row = item.mapped, item.row
    if row.get("status") == DeliveryStatus.FAILED:
        return
    contact = batch.contacts.get((item.integration.id, item.email)) if item.email else None
    if mapped.status == Status.REJECTED:  # a per-integration field mapping can reject what the default accepted
        row.update(status=DeliveryStatus.FAILED, reason=mapped.reason)
    elif mapped.status == Status.SKIPPED:
        row.update(status=DeliveryStatus.SKIPPED, reason=mapped.reason)
        if contact is not None and mapped.consent is not None:
            if set_consent(contact, mapped.consent, mapped.timestamp):
                resend_state(batch, item, contact)
            batch.touched.add(item.integration.id)
    elif contact is None:
        row.update(status=DeliveryStatus.HELD, reason=HELD_REASON)
    else:
        patch_contact(batch, item, contact)


def patch_contact(batch: Batch, item: Item, contact: ContactState) -> None:
    mapped, config = item.mapped, batch.configs[item.integration.id]
    assert isinstance(config, MappingConfig)
    regranted = mapped.consent is not None and set_consent(contact, mapped.consent, mapped.timestamp)
    current = {k: tuple(v) for k, v in (contact.fields or {}).items()}
    patch, state = newer_fields(current, dict(mapped.fields), mapped.timestamp or utcnow())
    if patch:
        contact.fields = {k: list(v) for k, v in state.items()}
    if item.replayed:  # every field of the event: the flush sends the state's current value of each
        patch = dict(mapped.fields)
    order_key = (item.integration.id, mapped.order.order_id) if mapped.order else None
    if order_key in batch.new_orders:
        batch.new_orders.discard(order_key)  # counted once, even when the batch holds it twice
        contact.lifetime_value = Decimal(contact.lifetime_value or 0) + mapped.order.revenue
        patch[config.lifetime_value_field] = float(contact.lifetime_value)
    elif item.replayed and mapped.order is not None:
        patch[config.lifetime_value_field] = float(contact.lifetime_value or 0)
    if regranted:
        resend_state(batch, item, contact)
        return
    if not patch and mapped.kind != "identify" and not item.replayed:
        item.row.update(status=DeliveryStatus.SKIPPED, reason="superseded: a newer event already set these fields")
        return
    item.row.update(status=DeliveryStatus.QUEUED, reason=None, patch=patch)
    batch.touched.add(item.integration.id)


def resend_state(batch: Batch, item: Item, contact: ContactState) -> None:
    """Consent granted again after a withdrawal: the deliveries of the withdrawn time were skipped, so this
    delivery carries the contact's whole state (the flush sends the current value of every field it names)."""
    config = batch.configs[item.integration.id]
    assert isinstance(config, MappingConfig)
    patch = {name: value for name, (value, _at) in (contact.fields or {}).items()}
    if contact.lifetime_value:
        patch[config.lifetime_value_field] = float(contact.lifetime_value)
    reason = None if item.mapped.status == Status.MAPPED else "consent granted again: the contact's state is sent"
    item.row.update(status=DeliveryStatus.QUEUED, reason=reason, patch=patch)
    batch.touched.add(item.integration.id)


def set_consent(contact: ContactState, granted: bool, at: datetime | None) -> bool:
    """Newest consent state wins, like any other field; True when this grant ends a withdrawal."""
    if at is not None and contact.consent_at is not None and at < contact.consent_at:
        return False
    regranted = granted and contact.consent is False
    contact.consent, contact.consent_at = granted, at or utcnow()
    return regranted
