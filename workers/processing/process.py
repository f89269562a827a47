"""Turn stored events into deliveries: map, resolve identity, keep field clocks, count orders once.

`process_events` is what the Celery task `signal.process_events` runs; tests call it directly. It works a batch
at a time: a fixed number of round trips per batch (events, identities, orders, contacts, then bulk writes),
whatever the batch size; the per-event work is dictionary transforms in memory.

Locks are taken in one order (the visitor keys in `identities`, orders, contacts, each sorted by key), so two
batches running at once wait for each other instead of deadlocking.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, Row, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from mapping import MappedEvent, MappingConfig, map_event, newer_fields
from models import Delivery, DeliveryStatus, Event, EventStatus, Identity, Integration, bulk
from models.base import has_status, utcnow
from models.bulk import ContactState
from models.db import among

log = logging.getLogger(__name__)

MAX_PROCESS_ATTEMPTS = 5  # an event whose processing crashed (or was killed) this often is set aside as failed
DEFAULT_CONFIG = MappingConfig()
HELD_REASON = "waiting for an identify that gives the email"


@dataclass
class Item:
    """One (event, integration) pair on its way to a delivery row."""

    integration: Integration
    mapped: MappedEvent
    event_id: int
    email: str | None = None
    held_id: int | None = None  # the id of an existing held delivery being released
    row: dict = field(default_factory=dict)


class Batch:
    """Per-call state: integrations and their configs, identity links, locked contacts."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.integrations = list(session.scalars(select(Integration).order_by(Integration.id)))
        self.configs: dict[int, MappingConfig | str] = {}
        for integration in self.integrations:
            try:
                self.configs[integration.id] = MappingConfig.from_dict(integration.config or {})
            except ValueError as e:  # a stored config SendGrid would refuse: its deliveries fail, others go on
                self.configs[integration.id] = f"integration {integration.id} has an invalid mapping config: {e}"
        self.links: dict[tuple[str, str], tuple[str, datetime]] = {}  # (kind, value) -> (email, linked_at)
        self.looked_up: set[tuple[str, str]] = set()
        self.new_links: set[tuple[str, str]] = set()
        self.contacts: dict[tuple[int, str], ContactState] = {}
        self.new_orders: set[tuple[int, str]] = set()
        self.touched: set[int] = set()

    def load_links(self, keys: set[tuple[str, str]]) -> None:
        wanted = sorted(k for k in keys if k not in self.looked_up)
        self.looked_up.update(wanted)
        for kind, value, email, linked_at in bulk.load_identities(self.session, wanted):
            self.links[(kind, value)] = (email, linked_at)

    def resolve_email(self, user_id: str | None, anonymous_id: str | None) -> str | None:
        keys = (("user", user_id), ("anonymous", anonymous_id))
        if any(k[1] and k not in self.looked_up for k in keys):
            self.load_links({k for k in keys if k[1]})
        for key in keys:
            if key[1] and key in self.links:
                return self.links[key][0]
        return None

    def lock_identities(self, events: Iterable[MappedEvent]) -> None:
        """Lock the visitor keys this batch could race on, then read their links again.

        An identify that links a visitor, and an event that would be held because its visitor has no link yet,
        lock the visitor's `identities` rows (sorted, created when missing) before anything is decided. Of a
        held event and its identify processed at the same moment in two batches, one therefore waits for the
        other's commit: the identify sees the held delivery and releases it, or the event sees the link and is
        not held. Events whose visitor is linked already, or that name their email, lock nothing."""
        keys: set[tuple[str, str]] = set()
        for mapped in events:
            linking = mapped.kind == "identify" and mapped.email and mapped.consent is not False
            would_hold = (
                mapped.status == "mapped"
                and not mapped.email
                and not self.resolve_email(mapped.user_id, mapped.anonymous_id)
            )
            if linking or would_hold:
                keys.update(k for k in (("user", mapped.user_id), ("anonymous", mapped.anonymous_id)) if k[1])
        self.lock_keys(keys)

    def lock_keys(self, keys: set[tuple[str, str]]) -> None:
        if not keys:
            return
        for kind, value, email, linked_at in bulk.lock_identities(self.session, sorted(keys)):
            self.links[(kind, value)] = (email, linked_at)
        self.looked_up.update(keys)

    def link(self, mapped: MappedEvent) -> None:
        """Remember userId / anonymousId -> email; a newer identify re-links, an older one does not."""
        at = mapped.timestamp or utcnow()
        for key in (("user", mapped.user_id), ("anonymous", mapped.anonymous_id)):
            if key[1] and (key not in self.links or at >= self.links[key][1]):
                self.links[key] = (mapped.email, at)
                self.new_links.add(key)

    def lock_contacts(self, keys: set[tuple[int, str]]) -> None:
        """Load the contacts, creating the new ones, locked until commit so field clocks never race."""
        wanted = sorted(k for k in keys if k not in self.contacts)
        for contact in bulk.lock_contacts(self.session, wanted) if wanted else []:
            self.contacts[(contact.integration_id, contact.email)] = contact

    def contact(self, integration_id: int, email: str) -> ContactState:
        """One contact, locked (a lookup when `lock_contacts` already took it)."""
        self.lock_contacts({(integration_id, email)})
        return self.contacts[(integration_id, email)]

    def save_contacts(self) -> None:
        """Write back what this batch changed in its locked contacts (one statement, not one per contact)."""
        bulk.save_contacts(self.session, self.contacts.values())

    def insert_orders(self, items: list[Item]) -> None:
        """Store every order of the batch once; those stored now are new and add to lifetime value."""
        rows = {}
        for item in items:
            order = item.mapped.order
            if order is not None and item.email and item.mapped.status == "mapped":
                rows.setdefault((item.integration.id, order.order_id), {
                    "integration_id": item.integration.id, "email": item.email, "order_id": order.order_id,
                    "revenue": order.revenue, "currency": order.currency,
                    "ordered_at": item.mapped.timestamp or utcnow(), "created_at": utcnow(),
                })  # fmt: skip
        if rows:
            self.new_orders.update(bulk.insert_orders(self.session, [rows[k] for k in sorted(rows)]))


def claim_attempt(engine: Engine, event_ids: list[int]) -> list[int]:
    """Count a processing attempt in its own committed transaction, so that a worker killed mid-batch
    still leaves the count behind; events over the limit are set aside as failed (poison)."""
    with engine.begin() as conn:
        rows = conn.execute(
            update(Event)
            .where(among(Event.id, event_ids), Event.status == EventStatus.RECEIVED)
            .values(process_attempts=Event.process_attempts + 1)
            .returning(Event.id, Event.process_attempts)
        ).all()
        poison = [i for i, attempts in rows if attempts > MAX_PROCESS_ATTEMPTS]
        if poison:
            conn.execute(
                update(Event)
                .where(among(Event.id, poison))
                .values(
                    status=EventStatus.FAILED,
                    processed_at=utcnow(),
                    reason=f"set aside: processing did not finish in {MAX_PROCESS_ATTEMPTS} attempts "
                    "(the worker crashed or was killed each time)",
                )
            )
    return sorted(i for i, attempts in rows if attempts <= MAX_PROCESS_ATTEMPTS)


def process_events(session: Session, event_ids: list[int], fresh: bool = False) -> set[int]:
    """Map the given received events into deliveries; returns the integrations that got queued work.

    A batch whose events were tried before and did not finish (its worker crashed, was killed, or the batch
    write failed) is taken apart: one event per transaction, each counting its own attempt, so only the
    culprit keeps failing and is set aside, while the others go through.

    `fresh` says the events were just stored and this is their first try (ingest's trigger, delivered for the
    first time): that try is not counted, which saves a committed write of every event. Should it die, its
    trigger comes back redelivered (or the sweep finds the events), and every later try is counted, so a
    poison event is still set aside, after one more try than MAX_PROCESS_ATTEMPTS.
    """
    if not event_ids:
        return set()
    tried = session.execute(
        select(Event.id, Event.process_attempts).where(among(Event.id, event_ids), Event.status == EventStatus.RECEIVED)
    ).all()
    engine = session.get_bind()
    if any(attempts > 0 for _, attempts in tried):
        if len(tried) > 1:
            return process_one_by_one(engine, sorted(i for i, _ in tried))
    elif fresh:
        return process_claimed(session, sorted(i for i, _ in tried))
    return process_claimed(session, claim_attempt(engine, [i for i, _ in tried]))


def process_one_by_one(engine: Engine, event_ids: list[int]) -> set[int]:
    touched: set[int] = set()
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    for event_id in event_ids:
        try:
            with sessions.begin() as own:
                touched |= process_claimed(own, claim_attempt(engine, [event_id]))
        except Exception:  # its attempt is counted: after MAX_PROCESS_ATTEMPTS it is set aside
            log.exception("processing event %s alone failed", event_id)
    return touched


def process_claimed(session: Session, ids: list[int]) -> set[int]:
    """Process events whose attempt was just counted."""
    # Rows, not ORM objects: processing reads these five columns and writes events back in bulk.
    query = (
        select(Event.id, Event.message_id, Event.payload, Event.received_at, Event.process_attempts)
        .where(among(Event.id, ids), Event.status == EventStatus.RECEIVED)
        .order_by(Event.id)
    )
    events = session.execute(query.with_for_update(skip_locked=True)).all()
    if not events:
        return set()
    batch = Batch(session)
    checked = {e.id: map_event(e.payload, DEFAULT_CONFIG, e.received_at or utcnow()) for e in events}
    batch.load_links(
        {k for m in checked.values() for k in (("user", m.user_id), ("anonymous", m.anonymous_id)) if k[1]}
    )
    batch.lock_identities(checked.values())

    items: list[Item] = []
    outcomes: dict[int, tuple[EventStatus, str | None]] = {}
    for event in events:
        try:
            items.extend(plan_event(batch, event, checked[event.id], outcomes))
        except Exception as e:  # one bad event never stops the batch; its attempt count sets it aside
            log.exception("processing event %s crashed (attempt %s)", event.id, event.process_attempts)
            outcomes.pop(event.id, None)
            items = [i for i in items if i.event_id != event.id]
            if event.process_attempts >= MAX_PROCESS_ATTEMPTS:
                reason = f"processing crashed {event.process_attempts} times: {type(e).__name__}: {e}"[:2000]
                outcomes[event.id] = (EventStatus.FAILED, reason)
    for item in items:  # a visitor identified later in this same batch is no longer held
        if item.email is None and item.mapped.status == "mapped":
            item.email = batch.resolve_email(item.mapped.user_id, item.mapped.anonymous_id)
    items.extend(held_to_release(batch))

    batch.insert_orders(items)
    batch.lock_contacts({(i.integration.id, i.email) for i in items if i.email})
    for item in items:
        decide(batch, item)
    write(batch, items, outcomes)
    return batch.touched


def plan_event(
    batch: Batch, event: Row, checked: MappedEvent, outcomes: dict[int, tuple[EventStatus, str | None]]
) -> list[Item]:
    if checked.status == "rejected":
        outcomes[event.id] = (EventStatus.REJECTED, checked.reason)
        return []
    if checked.kind == "identify" and checked.email and checked.consent is not False:
        batch.link(checked)
    items = []
    for integration in batch.integrations:
        config = batch.configs[integration.id]
        if isinstance(config, str):
            items.append(Item(integration, checked, event.id, row={"status": DeliveryStatus.FAILED, "reason": config}))
            continue
        mapped = (
            checked if config == DEFAULT_CONFIG else map_event(event.payload, config, event.received_at or utcnow())
        )
        email = mapped.email or batch.resolve_email(mapped.user_id, mapped.anonymous_id)
        items.append(Item(integration, mapped, event.id, email))
    outcomes[event.id] = (EventStatus.PROCESSED, None)
    return items


def held_to_release(batch: Batch) -> list[Item]:
    """Deliveries held in earlier batches for visitors this batch linked to an email, mapped again."""
    users = sorted(v for k, v in batch.new_links if k == "user")
    anonymous = sorted(v for k, v in batch.new_links if k == "anonymous")
    if not users and not anonymous:
        return []
    # Plain IN lists here, not arrays: with the values in sight the planner probes the partial indexes on held
    # deliveries even before the table has statistics; with an array it scanned every held delivery.
    keys = []
    if users:
        keys.append(Delivery.user_id.in_(users))
    if anonymous:
        keys.append(Delivery.anonymous_id.in_(anonymous))
    columns = (Delivery.id, Delivery.integration_id, Delivery.user_id, Delivery.anonymous_id, Delivery.event_id)
    rows = batch.session.execute(
        select(*columns, Event.payload, Event.received_at)
        .join(Event, Event.id == Delivery.event_id)
        .where(has_status(Delivery.status, DeliveryStatus.HELD), or_(*keys))
        .order_by(Delivery.id)
        .with_for_update(of=Delivery, skip_locked=True)
    ).all()
    by_id = {i.id: i for i in batch.integrations}
    batch.load_links({k for r in rows for k in (("user", r.user_id), ("anonymous", r.anonymous_id)) if k[1]})
    items = []
    for row in rows:
        integration, config = by_id.get(row.integration_id), batch.configs.get(row.integration_id)
        if integration is None or not isinstance(config, MappingConfig):
            continue
        mapped = map_event(row.payload, config, row.received_at or utcnow())
        email = batch.resolve_email(mapped.user_id, mapped.anonymous_id)
        items.append(Item(integration, mapped, row.event_id, email, held_id=row.id))
    return items


def release_linked_held(session: Session, older_than: timedelta, limit: int = 10_000) -> tuple[int, set[int]]:
    """The sweep's backstop for the identity locks: held deliveries older than `older_than` whose visitor is
    linked to an email now, released like an identify releases them. With the locks there are none (a held
    delivery and the link that releases it cannot miss each other); returns (released, integrations touched)."""
    before = utcnow() - older_than
    keys: set[tuple[str, str]] = set()
    for kind, column in (("user", Delivery.user_id), ("anonymous", Delivery.anonymous_id)):
        keys.update(
            (kind, value)
            for value in session.scalars(
                select(column)
                .join(Identity, (Identity.kind == kind) & (Identity.value == column))
                .where(
                    has_status(Delivery.status, DeliveryStatus.HELD),
                    Delivery.created_at < before,
                    Identity.email.is_not(None),
                )
                .distinct()
                .limit(limit)
            )
        )
    if not keys:
        return 0, set()
    batch = Batch(session)
    batch.lock_keys(keys)
    batch.new_links.update(keys)  # what held_to_release looks for; nothing is linked anew
    items = held_to_release(batch)
    batch.new_links.clear()
    batch.insert_orders(items)
    batch.lock_contacts({(i.integration.id, i.email) for i in items if i.email})
    for item in items:
        decide(batch, item)
    write(batch, items, {})
    return len(items), batch.touched


def decide(batch: Batch, item: Item) -> None:
    """A delivery's status and patch: failed, skipped, held until an identify, or queued."""
    mapped, row = item.mapped, item.row
    if row.get("status") == DeliveryStatus.FAILED:
        return
    contact = batch.contacts.get((item.integration.id, item.email)) if item.email else None
    if mapped.status == "rejected":  # a per-integration field mapping can reject what the default accepted
        row.update(status=DeliveryStatus.FAILED, reason=mapped.reason)
    elif mapped.status == "skipped":
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
    order_key = (item.integration.id, mapped.order.order_id) if mapped.order else None
    if order_key in batch.new_orders:
        batch.new_orders.discard(order_key)  # counted once, even when the batch holds it twice
        contact.lifetime_value = Decimal(contact.lifetime_value or 0) + mapped.order.revenue
        patch[config.lifetime_value_field] = float(contact.lifetime_value)
    if regranted:
        resend_state(batch, item, contact)
        return
    if not patch and mapped.kind != "identify":
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
    reason = None if item.mapped.status == "mapped" else "consent granted again: the contact's state is sent"
    item.row.update(status=DeliveryStatus.QUEUED, reason=reason, patch=patch)
    batch.touched.add(item.integration.id)


def write(batch: Batch, items: list[Item], outcomes: dict[int, tuple[EventStatus, str | None]]) -> None:
    """Everything the batch decided, in a handful of statements."""
    session, now = batch.session, utcnow()
    new_rows, held_updates = [], []
    for item in items:
        values = {"email": item.email, "patch": item.row.get("patch"), "status": item.row["status"],
                  "reason": item.row.get("reason"), "updated_at": now}  # fmt: skip
        if item.held_id is not None:
            held_updates.append({"id": item.held_id, **values})
            continue
        new_rows.append({
            "integration_id": item.integration.id, "event_id": item.event_id, "kind": item.mapped.kind,
            "user_id": item.mapped.user_id, "anonymous_id": item.mapped.anonymous_id,
            "event_at": item.mapped.timestamp, "attempts": 0, "replay_count": 0, "created_at": now, **values,
        })  # fmt: skip
    bulk.insert_deliveries(session, new_rows)
    bulk.update_deliveries(session, held_updates)
    if batch.new_links:
        upsert_links(batch)
    processed = sorted(i for i, (status, _) in outcomes.items() if status == EventStatus.PROCESSED)
    if processed:
        session.execute(
            update(Event.__table__).where(among(Event.id, processed)).values(status="processed", processed_at=now)
        )
    others = [{"id": i, "status": s, "reason": r, "processed_at": now} for i, (s, r) in outcomes.items()
              if s != EventStatus.PROCESSED]  # fmt: skip
    if others:
        session.execute(update(Event), others)
    batch.save_contacts()


def upsert_links(batch: Batch) -> None:
    rows = [(k, v, *batch.links[(k, v)]) for k, v in sorted(batch.new_links)]
    bulk.upsert_identities(batch.session, rows)


def set_consent(contact: ContactState, granted: bool, at: datetime | None) -> bool:
    """Newest consent state wins, like any other field; True when this grant ends a withdrawal."""
    if at is not None and contact.consent_at is not None and at < contact.consent_at:
        return False
    regranted = granted and contact.consent is False
    contact.consent, contact.consent_at = granted, at or utcnow()
    return regranted


# The single-delivery path, for replay.


def count_order(session: Session, integration_id: int, email: str, mapped: MappedEvent, at: datetime) -> bool:
    """Store the order once per integration and order_id; True when it is new (so it adds to LTV)."""
    order = mapped.order
    assert order is not None
    row = {"integration_id": integration_id, "email": email, "order_id": order.order_id, "revenue": order.revenue,
           "currency": order.currency, "ordered_at": at, "created_at": utcnow()}  # fmt: skip
    return (integration_id, order.order_id) in bulk.insert_orders(session, [row])


def route(batch: Batch, integration: Integration, delivery: Delivery, mapped: MappedEvent) -> None:
    """Decide one existing delivery again (a replay of a skipped event, say), as a batch of one."""
    email = mapped.email or batch.resolve_email(mapped.user_id, mapped.anonymous_id)
    item = Item(integration, mapped, delivery.event_id, email)
    batch.insert_orders([item])
    if email:
        batch.lock_contacts({(integration.id, email)})
    decide(batch, item)
    delivery.email = email
    delivery.status, delivery.reason = item.row["status"], item.row.get("reason")
    if "patch" in item.row:
        delivery.patch = item.row["patch"]
