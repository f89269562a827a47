"""A flush's requests: each contact's current state for the fields its deliveries touched, serialized once,
grouped by list set and split at SendGrid's limits."""

from __future__ import annotations

import json
from decimal import Decimal

from marshmallow import ValidationError
from sqlalchemy import Row
from sqlalchemy.orm import Session

from mapping import RESERVED_LIMITS, MappingConfig, UnknownCustomField, contact_for_sendgrid
from mapping.contact import resolve_field_id
from mapping.schemas import flatten_errors
from models import AttemptKind, Delivery, DeliveryStatus, Integration
from workers.delivery.report import FlushReport, fail, finish
from workers.delivery.request import Chunk, Outgoing
from workers.delivery.store import contact_states
from workers.sendgrid.attempts import record_attempt
from workers.sendgrid.client import SendGridClient
from workers.sendgrid.fields import resolve_fields

MAX_CONTACTS = 30_000  # SendGrid: at most 30,000 contacts per PUT
MAX_BODY_BYTES = 6_000_000  # SendGrid: at most "6 MB"; the decimal reading is the lower, so safe either way


def build_chunks(
    session: Session, integration: Integration, deliveries: list[Delivery], client: SendGridClient, report: FlushReport
) -> list[Chunk]:
    """One contact per email, with its *current* state: for every field any of its deliveries touched, the
    value its `contacts` row holds now (newest by event time), and lifetime value as the stored sum over
    distinct orders. The order in which deliveries were decided, numbered or claimed cannot change what is
    sent. Withdrawn consent drops the contact; the rest is grouped by list set and split at the limits."""
    by_email: dict[str, Outgoing] = {}
    list_sets: dict[str, tuple[str, ...]] = {}
    for delivery in deliveries:
        email = delivery.email or ""
        out = by_email.setdefault(email, Outgoing(email, {}, []))
        out.fields.update(delivery.patch or {})  # which fields to send (their values come from the state)
        out.deliveries.append(delivery)
        if delivery.kind == "identify":
            list_sets[email] = tuple(integration.list_ids)
    states = contact_states(session, integration.id, list(by_email))
    lifetime_value = lifetime_value_field(integration)
    for email in list(by_email):
        state = states.get(email)
        if state is None:  # no contacts row (cannot happen for a decided delivery): send the patches as they are
            continue
        if state.consent is False:
            for delivery in by_email.pop(email).deliveries:
                finish(delivery, DeliveryStatus.SKIPPED, "consent_denied: consent withdrawn before the batch was sent")
                report.skipped += 1
            continue
        by_email[email].fields = current_values(by_email[email].fields, state, lifetime_value)
    outgoing = list(by_email.values())
    serialize(session, integration, client, outgoing, report)
    groups: dict[tuple[str, ...], list[Outgoing]] = {}
    for out in outgoing:
        if out.body:
            groups.setdefault(list_sets.get(out.email, ()), []).append(out)
    chunks = []
    for list_ids, contacts in groups.items():
        chunks.extend(split(list(list_ids), contacts))
    return chunks


def current_values(touched: dict, state: Row, lifetime_value: str) -> dict:
    """The values the contact's state holds now for the touched fields (a field the state does not hold keeps
    the delivery's value: a replayed patch whose field was never stored, say)."""
    stored = state.fields or {}
    values = {}
    for name, value in touched.items():
        if name == lifetime_value:
            values[name] = Decimal(state.lifetime_value or 0)
        elif name in stored:
            values[name] = stored[name][0]
        else:
            values[name] = value
    return values


def lifetime_value_field(integration: Integration) -> str:
    try:
        return MappingConfig.from_dict(integration.config or {}).lifetime_value_field
    except ValueError:  # an invalid stored config: its deliveries failed in processing, none are queued
        return MappingConfig().lifetime_value_field


def serialize(
    session: Session,
    integration: Integration,
    client: SendGridClient,
    outgoing: list[Outgoing],
    report: FlushReport,
    refresh: bool = True,
) -> None:
    """Serialize each contact once; custom fields with no id yet are created first (once per flush)."""
    missing = {name for out in outgoing for name in unknown_fields(out, integration.field_ids or {})}
    if missing and refresh:
        refresh_fields(session, integration, client, missing)
    for out in outgoing:
        out.body = b""  # a contact that cannot be serialized now must not go out with an older body
        try:
            out.body = json.dumps(
                contact_for_sendgrid(out.email, out.fields, integration.field_ids or {}), separators=(",", ":")
            ).encode()
        except UnknownCustomField as e:
            fail(out.deliveries, f"custom field {e} could not be created in SendGrid", report)
        except ValidationError as e:  # a patch that breaks SendGrid's rules: fail it alone, send the rest
            fail(out.deliveries, f"invalid contact, not sent: {'; '.join(flatten_errors(e.messages))}", report)


def unknown_fields(out: Outgoing, field_ids: dict) -> list[str]:
    """The custom fields of a contact with no id yet (cheap: no schema validation, that is serialize's job)."""
    missing = []
    for name in out.fields:
        if name in RESERVED_LIMITS:
            continue
        try:
            resolve_field_id(name, field_ids)
        except UnknownCustomField:
            missing.append(name)
    return missing


def refreshed(
    session: Session, integration: Integration, client: SendGridClient, chunk: Chunk, report: FlushReport
) -> list[Chunk]:
    """A chunk whose custom fields SendGrid refused: their ids asked again, its contacts serialized again."""
    # Custom fields only: a reserved name (first_name ...) is not a custom field and cannot be created.
    names = {name for out in chunk.contacts for name in out.fields if name not in RESERVED_LIMITS}
    integration.field_ids = {}
    refresh_fields(session, integration, client, names)
    serialize(session, integration, client, chunk.contacts, report, refresh=False)  # refreshed just now
    return [Chunk(chunk.list_ids, [c for c in chunk.contacts if c.body], fields_refreshed=True)]


def refresh_fields(session: Session, integration: Integration, client: SendGridClient, names: set[str]) -> None:
    required = MappingConfig.from_dict(integration.config or {}).required_fields()
    # The configured fields first, then the others in a stable order: resolve_fields stops at the first
    # field it cannot create, which must not cost the configured ones their ids.
    wanted = {**required, **{name: "Text" for name in sorted(names - set(required))}}
    resolution = resolve_fields(
        client, wanted, lambda a: record_attempt(session, integration.id, AttemptKind.FIELD_DEFINITIONS, a)
    )
    integration.field_ids = {**(integration.field_ids or {}), **resolution.ids}


def split(list_ids: list[str], contacts: list[Outgoing]) -> list[Chunk]:
    """Greedy split: at most MAX_CONTACTS contacts and MAX_BODY_BYTES of serialized body per request."""
    overhead = len(json.dumps({"list_ids": list_ids, "contacts": []}))
    chunks: list[Chunk] = []
    current: list[Outgoing] = []
    size = overhead
    for out in contacts:
        extra = len(out.body) + 1
        if current and (len(current) >= MAX_CONTACTS or size + extra > MAX_BODY_BYTES):
            chunks.append(Chunk(list_ids, current))
            current, size = [], overhead
        current.append(out)
        size += extra
    if current:
        chunks.append(Chunk(list_ids, current))
    return chunks
