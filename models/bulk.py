"""Set-at-a-time statements for the processing batch.

On PostgreSQL every statement takes its rows as a few array parameters (`unnest`), so the SQL text is the
same whatever the batch size: compiled once, no thousands of placeholders to build and parse per call, and
deliveries go in with COPY. The embedded SQLite database gets the plain SQLAlchemy equivalents.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, text, tuple_
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from models.contact import Contact, Identity, Order
from models.db import is_postgres
from models.delivery import Delivery

CHUNK = 5000

_LOAD_IDENTITIES = text(
    "SELECT kind, value, email, linked_at FROM identities "
    "WHERE (kind, value) IN (SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:vals AS text[])))"
)
_UPSERT_IDENTITIES = text(
    "INSERT INTO identities (kind, value, email, linked_at) "
    "SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:vals AS text[]), CAST(:emails AS text[]), "
    "CAST(:ats AS timestamptz[])) "
    "ON CONFLICT (kind, value) DO UPDATE SET email = excluded.email, linked_at = excluded.linked_at "
    "WHERE identities.linked_at <= excluded.linked_at"
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
    "SELECT contacts.* FROM contacts JOIN unnest(CAST(:ints AS bigint[]), CAST(:emails AS text[])) AS k(i, e) "
    "ON contacts.integration_id = k.i AND contacts.email = k.e ORDER BY contacts.integration_id, contacts.email "
    "FOR UPDATE OF contacts"
)
DELIVERY_COLUMNS = (
    "integration_id", "event_id", "kind", "email", "user_id", "anonymous_id", "event_at", "patch", "status",
    "reason", "attempts", "replay_count", "created_at", "updated_at",
)  # fmt: skip


def load_identities(session: Session, keys: list[tuple[str, str]]) -> list[tuple[str, str, str, datetime]]:
    found = []
    for start in range(0, len(keys), CHUNK):
        part = keys[start : start + CHUNK]
        if is_postgres(session):
            rows = session.execute(_LOAD_IDENTITIES, {"kinds": [k for k, _ in part], "vals": [v for _, v in part]})
        else:
            cols = (Identity.kind, Identity.value, Identity.email, Identity.linked_at)
            rows = session.execute(select(*cols).where(tuple_(Identity.kind, Identity.value).in_(part)))
        found.extend(tuple(r) for r in rows)
    return found


def upsert_identities(session: Session, rows: list[tuple[str, str, str, datetime]]) -> None:
    """(kind, value, email, linked_at), sorted: a link changes only for a newer identify."""
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        if is_postgres(session):
            kinds, vals, emails, ats = (list(c) for c in zip(*part, strict=True))
            session.execute(_UPSERT_IDENTITIES, {"kinds": kinds, "vals": vals, "emails": emails, "ats": ats})
            continue
        stmt = sqlite.insert(Identity).values(
            [{"kind": k, "value": v, "email": e, "linked_at": at} for k, v, e, at in part]
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["kind", "value"],
                set_={"email": stmt.excluded.email, "linked_at": stmt.excluded.linked_at},
                where=Identity.linked_at <= stmt.excluded.linked_at,
            )
        )


def lock_contacts(session: Session, keys: list[tuple[int, str]]) -> list[Contact]:
    """Create the missing contacts, then load all of them locked (FOR UPDATE), in key order."""
    contacts = []
    for start in range(0, len(keys), CHUNK):
        part = keys[start : start + CHUNK]
        if is_postgres(session):
            params = {"ints": [i for i, _ in part], "emails": [e for _, e in part]}
            session.execute(_INSERT_CONTACTS, params)
            query = select(Contact).from_statement(_LOCK_CONTACTS.bindparams(**params))
        else:
            rows = [{"integration_id": i, "email": e, "fields": {}, "lifetime_value": Decimal(0), "suppressed": False}
                    for i, e in part]  # fmt: skip
            session.execute(sqlite.insert(Contact).values(rows).on_conflict_do_nothing())
            query = (
                select(Contact)
                .where(tuple_(Contact.integration_id, Contact.email).in_(part))
                .order_by(Contact.integration_id, Contact.email)
                .with_for_update()
            )
        contacts.extend(session.scalars(query.execution_options(populate_existing=True)))
    return contacts


def insert_orders(session: Session, rows: list[dict]) -> set[tuple[int, str]]:
    """Insert orders (sorted by key), ignoring those already stored; returns the keys inserted now."""
    inserted: set[tuple[int, str]] = set()
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        if is_postgres(session):
            params = {
                "ints": [r["integration_id"] for r in part],
                "emails": [r["email"] for r in part],
                "ids": [r["order_id"] for r in part],
                "revenues": [r["revenue"] for r in part],
                "currencies": [r["currency"] for r in part],
                "ats": [r["ordered_at"] for r in part],
            }
            result = session.execute(_INSERT_ORDERS, params)
        else:
            stmt = (
                sqlite.insert(Order).values(part).on_conflict_do_nothing(index_elements=["integration_id", "order_id"])
            )
            result = session.execute(stmt.returning(Order.integration_id, Order.order_id))
        inserted.update((i, o) for i, o in result)
    return inserted


def insert_deliveries(session: Session, rows: Iterable[dict]) -> None:
    rows = list(rows)
    if not rows:
        return
    if not is_postgres(session):
        session.execute(Delivery.__table__.insert(), rows)
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
