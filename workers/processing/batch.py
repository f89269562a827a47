"""A processing batch's state: integrations and their configs, identity links (locked where batches could
race), contacts locked for their field clocks, orders counted once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import load_settings
from mapping import MappedEvent, MappingConfig, Status, map_event
from models import Integration, IntegrationStatus
from models.base import utcnow
from workers.processing import store
from workers.processing.store import ContactState

DEFAULT_CONFIG = MappingConfig()


def visitor_keys(user_id: str | None, anonymous_id: str | None) -> list[tuple[str, str]]:
    """The identity keys an event names, userId first (it wins when both are linked)."""
    return [key for key in (("user", user_id), ("anonymous", anonymous_id)) if key[1]]


@dataclass
class Item:
    """One (event, integration) pair on its way to a delivery row."""

    integration: Integration
    mapped: MappedEvent
    event_id: int
    email: str | None = None
    held_id: int | None = None  # the id of an existing delivery decided again (a held one released, a replay)
    replayed: bool = False  # a replay: the delivery names every field of its event, never "superseded"
    row: dict = field(default_factory=dict)


class Batch:
    """Per-call state: integrations and their configs, identity links, locked contacts."""

    def __init__(self, session: Session, max_clock_skew: timedelta | None = None) -> None:
        self.session = session
        # How far after its arrival an event may be dated (SIGNAL_MAX_CLOCK_SKEW_HOURS); later is its arrival.
        self.max_clock_skew = load_settings().max_clock_skew if max_clock_skew is None else max_clock_skew
        # A disabled integration gets no deliveries (enable does not go back for the events of that time).
        self.integrations = list(
            session.scalars(
                select(Integration).where(Integration.status != IntegrationStatus.DISABLED).order_by(Integration.id)
            )
        )
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

    def map(self, payload: object, config: MappingConfig, received_at: datetime | None) -> MappedEvent:
        """One stored event mapped for one integration, its time bounded by its arrival."""
        return map_event(payload, config, received_at or utcnow(), self.max_clock_skew)

    def load_links(self, keys: set[tuple[str, str]]) -> None:
        wanted = sorted(k for k in keys if k not in self.looked_up)
        self.looked_up.update(wanted)
        for kind, value, email, linked_at in store.load_identities(self.session, wanted):
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
                mapped.status == Status.MAPPED
                and not mapped.email
                and not self.resolve_email(mapped.user_id, mapped.anonymous_id)
            )
            if linking or would_hold:
                keys.update(visitor_keys(mapped.user_id, mapped.anonymous_id))
        self.lock_keys(keys)

    def lock_keys(self, keys: set[tuple[str, str]]) -> None:
        if not keys:
            return
        for kind, value, email, linked_at in store.lock_identities(self.session, sorted(keys)):
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
        for contact in store.lock_contacts(self.session, wanted) if wanted else []:
            self.contacts[(contact.integration_id, contact.email)] = contact

    def contact(self, integration_id: int, email: str) -> ContactState:
        """One contact, locked (a lookup when `lock_contacts` already took it)."""
        self.lock_contacts({(integration_id, email)})
        return self.contacts[(integration_id, email)]

    def save_contacts(self) -> None:
        """Write back what this batch changed in its locked contacts (one statement, not one per contact)."""
        store.save_contacts(self.session, self.contacts.values())

    def insert_orders(self, items: list[Item]) -> None:
        """Store every order of the batch once; those stored now are new and add to lifetime value."""
        rows = {}
        for item in items:
            order = item.mapped.order
            if order is not None and item.email and item.mapped.status == Status.MAPPED:
                rows.setdefault((item.integration.id, order.order_id), {
                    "integration_id": item.integration.id, "email": item.email, "order_id": order.order_id,
                    "revenue": order.revenue, "currency": order.currency,
                    "ordered_at": item.mapped.timestamp or utcnow(), "created_at": utcnow(),
                })  # fmt: skip
        if rows:
            self.new_orders.update(store.insert_orders(self.session, [rows[k] for k in sorted(rows)]))
