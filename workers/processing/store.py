"""Processing's data layer: the set-at-a-time statements a batch reads and writes its rows with.

Every statement takes its rows as a few array parameters (`unnest`), so the SQL text is the same whatever
the batch size: compiled once, no thousands of placeholders to build and parse per call (new deliveries go
in with COPY: models.delivery_rows, shared with the privacy guard). The statements are SQLAlchemy Core over
the models' tables, built once here: column names come from the tables, and the columns a statement leaves
out get the model's default (`include_defaults` of `from_select`, `onupdate` of an UPDATE), computed once
per statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    and_,
    bindparam,
    case,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.arrays import stored, unnest
from models.base import UTCDateTime
from models.contact import Contact, Identity, Order
from models.delivery import Delivery
from models.delivery_rows import plain

CHUNK = 5000


# Columns that an INSERT below leaves out get the model's default (from_select includes Python-side defaults,
# computed once per statement); an UPDATE sets the model's onupdate columns it does not name.
_identities, _contacts, _orders = Identity.__table__.c, Contact.__table__.c, Order.__table__.c

_IDENTITY_KEY = {"kinds": _identities.kind, "vals": _identities.value}
_identity_keys = unnest(**_IDENTITY_KEY)
_LOAD_IDENTITIES = select(_identities.kind, _identities.value, _identities.email, _identities.linked_at).where(
    tuple_(_identities.kind, _identities.value).in_(select(*_identity_keys.c)), _identities.email.is_not(None)
)
_INSERT_IDENTITY_KEYS = (
    insert(Identity.__table__)
    .from_select(list(_IDENTITY_KEY.values()), select(*_identity_keys.c))
    .on_conflict_do_nothing(index_elements=list(_IDENTITY_KEY.values()))
)
_LOCK_IDENTITIES = (
    select(_identities.kind, _identities.value, _identities.email, _identities.linked_at)
    .join_from(
        Identity.__table__,
        _identity_keys,
        and_(_identities.kind == _identity_keys.c.kinds, _identities.value == _identity_keys.c.vals),
    )
    .order_by(_identities.kind, _identities.value)
    .with_for_update(of=Identity.__table__)
)
_LINK = {**_IDENTITY_KEY, "emails": _identities.email, "ats": _identities.linked_at}
_upsert = insert(Identity.__table__).from_select(list(_LINK.values()), select(*stored(unnest(**_LINK), _LINK)))
_UPSERT_IDENTITIES = _upsert.on_conflict_do_update(
    index_elements=list(_IDENTITY_KEY.values()),
    set_={"email": _upsert.excluded.email, "linked_at": _upsert.excluded.linked_at},
    where=or_(_identities.linked_at.is_(None), _identities.linked_at <= _upsert.excluded.linked_at),
)

_CONTACT_KEY = {"ints": _contacts.integration_id, "emails": _contacts.email}
_contact_keys = unnest(**_CONTACT_KEY)
_INSERT_CONTACTS = (  # fields, suppressed, lifetime_value, updated_at: Contact's defaults
    insert(Contact.__table__)
    .from_select(list(_CONTACT_KEY.values()), select(*_contact_keys.c).order_by(*_contact_keys.c))
    .on_conflict_do_nothing(index_elements=list(_CONTACT_KEY.values()))
)
_LOCK_CONTACTS = (
    select(
        _contacts.id,
        _contacts.integration_id,
        _contacts.email,
        _contacts.fields,
        _contacts.consent,
        _contacts.consent_at,
        _contacts.lifetime_value,
    )
    .join_from(
        Contact.__table__,
        _contact_keys,
        and_(_contacts.integration_id == _contact_keys.c.ints, _contacts.email == _contact_keys.c.emails),
    )
    .order_by(_contacts.integration_id, _contacts.email)
    .with_for_update(of=Contact.__table__)
)
_CONTACT_CHANGE = {"fields": _contacts.fields, "consents": _contacts.consent, "consent_ats": _contacts.consent_at,
                   "ltvs": _contacts.lifetime_value}  # fmt: skip
_changed_contacts = unnest(ids=_contacts.id, **_CONTACT_CHANGE)
_new_contact_values = dict(zip(_CONTACT_CHANGE.values(), stored(_changed_contacts, _CONTACT_CHANGE), strict=True))
_new_consent = _new_contact_values[_contacts.consent]
# Every change of consent is forwarded to the unsubscribe group, whatever the flush last believed SendGrid holds: a
# flush that died after its request reached SendGrid (and before its commit) leaves `suppressed` wrong, and the next
# change would otherwise be taken as already in place. A grant ending a withdrawal removes the suppression (a 404 is
# fine); a withdrawal adds it again. (In SET, `contacts.consent` is the row's value before this update.)
_FORWARD_CONSENT = case(
    (and_(_new_consent.is_(True), _contacts.consent.is_(False)), True),
    (and_(_new_consent.is_(False), _contacts.consent.is_distinct_from(False)), False),
    else_=_contacts.suppressed,
)
_UPDATE_CONTACTS = (  # updated_at: Contact's onupdate
    update(Contact.__table__)
    .where(_contacts.id == _changed_contacts.c.ids)
    .values(_new_contact_values)
    .values(suppressed=_FORWARD_CONSENT)
)

_ORDER = {"ints": _orders.integration_id, "emails": _orders.email, "ids": _orders.order_id,
          "revenues": _orders.revenue, "currencies": _orders.currency, "ats": _orders.ordered_at}  # fmt: skip
_INSERT_ORDERS = (  # created_at: Order's default
    insert(Order.__table__)
    .from_select(list(_ORDER.values()), select(*stored(unnest(**_ORDER), _ORDER)))
    .on_conflict_do_nothing(index_elements=[_orders.integration_id, _orders.order_id])
    .returning(_orders.integration_id, _orders.order_id)
)

_deliveries = Delivery.__table__.c
_HELD_CHANGE = {"emails": _deliveries.email, "patches": _deliveries.patch, "statuses": _deliveries.status,
                "reasons": _deliveries.reason}  # fmt: skip
_held = unnest(ids=_deliveries.id, **_HELD_CHANGE)
_UPDATE_DELIVERIES = (
    update(Delivery.__table__)
    .where(_deliveries.id == _held.c.ids)
    .values(dict(zip(_HELD_CHANGE.values(), stored(_held, _HELD_CHANGE), strict=True)))
    .values(updated_at=bindparam("now", type_=UTCDateTime()))
)


def load_identities(session: Session, keys: list[tuple[str, str]]) -> list[tuple[str, str, str, datetime]]:
    found = []
    for start in range(0, len(keys), CHUNK):
        part = keys[start : start + CHUNK]
        rows = session.execute(_LOAD_IDENTITIES, {"kinds": [k for k, _ in part], "vals": [v for _, v in part]})
        found.extend(tuple(r) for r in rows)
    return found


def lock_identities(session: Session, keys: list[tuple[str, str]]) -> list[tuple[str, str, str, datetime]]:
    """Lock the identities rows of these (kind, value) keys, sorted, creating the missing ones without an email;
    returns the links among them as they stand once the locks are held (a batch that linked one of the keys
    meanwhile has committed by then).

    Row locks, not advisory locks: a batch may lock thousands of keys, and row locks take no room in
    PostgreSQL's shared lock table."""
    keys = sorted(set(keys))
    found = []
    for start in range(0, len(keys), CHUNK):
        part = keys[start : start + CHUNK]
        params = {"kinds": [k for k, _ in part], "vals": [v for _, v in part]}
        session.execute(_INSERT_IDENTITY_KEYS, params)
        rows = session.execute(_LOCK_IDENTITIES, params)
        found.extend(tuple(r) for r in rows if r[2] is not None)
    return found


def upsert_identities(session: Session, rows: list[tuple[str, str, str, datetime]]) -> None:
    """(kind, value, email, linked_at), sorted: a link changes only for a newer identify."""
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        kinds, vals, emails, ats = (list(c) for c in zip(*part, strict=True))
        session.execute(_UPSERT_IDENTITIES, {"kinds": kinds, "vals": vals, "emails": emails, "ats": ats})


@dataclass(eq=False)
class ContactState:
    """A locked contact as processing reads and changes it; `save_contacts` writes back the changed ones."""

    id: int
    integration_id: int
    email: str
    fields: dict
    consent: bool | None
    consent_at: datetime | None
    lifetime_value: Decimal
    loaded: tuple = ()

    def __post_init__(self) -> None:
        self.loaded = self.values()

    def values(self) -> tuple:
        # A shallow copy is enough: processing replaces a field's [value, at] pair, it never edits one in place.
        return dict(self.fields or {}), self.consent, self.consent_at, self.lifetime_value


def lock_contacts(session: Session, keys: list[tuple[int, str]]) -> list[ContactState]:
    """Create the missing contacts, then load all of them locked (FOR UPDATE), in key order."""
    contacts = []
    for start in range(0, len(keys), CHUNK):
        part = keys[start : start + CHUNK]
        params = {"ints": [i for i, _ in part], "emails": [e for _, e in part]}
        session.execute(_INSERT_CONTACTS, params)
        rows = session.execute(_LOCK_CONTACTS, params)
        contacts.extend(ContactState(*row) for row in rows)
    return contacts


def save_contacts(session: Session, contacts: Iterable[ContactState]) -> None:
    """Write back the contacts that changed since they were locked, in one statement."""
    changed = [c for c in contacts if c.values() != c.loaded]
    for start in range(0, len(changed), CHUNK):
        part = changed[start : start + CHUNK]
        session.execute(_UPDATE_CONTACTS, {
            "ids": [c.id for c in part], "fields": [json.dumps(c.fields or {}) for c in part],
            "consents": [c.consent for c in part], "consent_ats": [c.consent_at for c in part],
            "ltvs": [Decimal(c.lifetime_value or 0) for c in part],
        })  # fmt: skip
        for contact in part:
            contact.loaded = contact.values()


def update_deliveries(session: Session, rows: list[dict]) -> None:
    """Set email, patch, status and reason of existing deliveries (by id), in one statement per chunk."""
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        session.execute(_UPDATE_DELIVERIES, {
            "ids": [r["id"] for r in part], "emails": [r["email"] for r in part],
            "patches": [None if r["patch"] is None else json.dumps(r["patch"]) for r in part],
            "statuses": [plain(r["status"]) for r in part], "reasons": [r["reason"] for r in part],
            "now": part[0]["updated_at"],
        })  # fmt: skip


def insert_orders(session: Session, rows: list[dict]) -> set[tuple[int, str]]:
    """Insert orders (sorted by key), ignoring those already stored; returns the keys inserted now."""
    inserted: set[tuple[int, str]] = set()
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        params = {
            "ints": [r["integration_id"] for r in part],
            "emails": [r["email"] for r in part],
            "ids": [r["order_id"] for r in part],
            "revenues": [r["revenue"] for r in part],
            "currencies": [r["currency"] for r in part],
            "ats": [r["ordered_at"] for r in part],
        }
        result = session.execute(_INSERT_ORDERS, params)
        inserted.update((i, o) for i, o in result)
    return inserted
