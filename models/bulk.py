"""Set-at-a-time statements for the processing batch.

Every statement takes its rows as a few array parameters (`unnest`), so the SQL text is the same whatever
the batch size: compiled once, no thousands of placeholders to build and parse per call, and deliveries go in
with COPY.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

CHUNK = 5000

_LOAD_IDENTITIES = text(
    "SELECT kind, value, email, linked_at FROM identities "
    "WHERE (kind, value) IN (SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:vals AS text[]))) "
    "AND email IS NOT NULL"
)
_INSERT_IDENTITY_KEYS = text(
    "INSERT INTO identities (kind, value) SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:vals AS text[])) "
    "ON CONFLICT (kind, value) DO NOTHING"
)
_LOCK_IDENTITIES = text(
    "SELECT identities.kind, identities.value, identities.email, identities.linked_at FROM identities "
    "JOIN unnest(CAST(:kinds AS text[]), CAST(:vals AS text[])) AS k(kind, value) "
    "ON identities.kind = k.kind AND identities.value = k.value ORDER BY identities.kind, identities.value "
    "FOR UPDATE OF identities"
)
_UPSERT_IDENTITIES = text(
    "INSERT INTO identities (kind, value, email, linked_at) "
    "SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:vals AS text[]), CAST(:emails AS text[]), "
    "CAST(:ats AS timestamptz[])) "
    "ON CONFLICT (kind, value) DO UPDATE SET email = excluded.email, linked_at = excluded.linked_at "
    "WHERE identities.linked_at IS NULL OR identities.linked_at <= excluded.linked_at"
)
_INSERT_CONTACTS = text(
    "INSERT INTO contacts (integration_id, email, fields, lifetime_value, suppressed, updated_at) "
    "SELECT i, e, '{}'::jsonb, 0, false, now() "
    "FROM unnest(CAST(:ints AS bigint[]), CAST(:emails AS text[])) AS t(i, e) "
    "ORDER BY i, e ON CONFLICT (integration_id, email) DO NOTHING"
)
_INSERT_ORDERS = text(
    "INSERT INTO orders (integration_id, email, order_id, revenue, currency, ordered_at, created_at) "
    "SELECT *, now() FROM unnest(CAST(:ints AS bigint[]), CAST(:emails AS text[]), CAST(:ids AS text[]), "
    "CAST(:revenues AS numeric[]), CAST(:currencies AS text[]), CAST(:ats AS timestamptz[])) "
    "ON CONFLICT (integration_id, order_id) DO NOTHING RETURNING integration_id, order_id"
)
_LOCK_CONTACTS = text(
    "SELECT contacts.id, contacts.integration_id, contacts.email, contacts.fields, contacts.consent, "
    "contacts.consent_at, contacts.lifetime_value FROM contacts "
    "JOIN unnest(CAST(:ints AS bigint[]), CAST(:emails AS text[])) AS k(i, e) "
    "ON contacts.integration_id = k.i AND contacts.email = k.e ORDER BY contacts.integration_id, contacts.email "
    "FOR UPDATE OF contacts"
)
_UPDATE_CONTACTS = text(
    "UPDATE contacts SET fields = CAST(u.f AS jsonb), consent = u.c, consent_at = u.ca, lifetime_value = u.l, "
    "updated_at = now() FROM unnest(CAST(:ids AS bigint[]), CAST(:fields AS text[]), CAST(:consents AS boolean[]), "
    "CAST(:consent_ats AS timestamptz[]), CAST(:ltvs AS numeric[])) AS u(id, f, c, ca, l) WHERE contacts.id = u.id"
)
_UPDATE_DELIVERIES = text(
    "UPDATE deliveries SET email = u.e, patch = CAST(u.p AS jsonb), status = u.s, reason = u.r, updated_at = :now "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:emails AS text[]), CAST(:patches AS text[]), "
    "CAST(:statuses AS text[]), CAST(:reasons AS text[])) AS u(id, e, p, s, r) WHERE deliveries.id = u.id"
)
DELIVERY_COLUMNS = (
    "integration_id", "event_id", "kind", "email", "user_id", "anonymous_id", "event_at", "patch", "status",
    "reason", "attempts", "replay_count", "created_at", "updated_at",
)  # fmt: skip


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
            "statuses": [_plain(r["status"]) for r in part], "reasons": [r["reason"] for r in part],
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


def insert_deliveries(session: Session, rows: Iterable[dict]) -> None:
    rows = list(rows)
    if not rows:
        return
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY deliveries ({', '.join(DELIVERY_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row[c]) if c == "patch" and row[c] is not None else _plain(row[c])
                    for c in DELIVERY_COLUMNS
                ]
            )


def _plain(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value
