"""Flushing an integration's queued deliveries: each contact's current state, split at SendGrid's limits, PUT, record.

One flush at a time per integration (a PostgreSQL advisory lock), so requests for one contact never race
and the account's rate limit is respected fleet-wide. Each round is one transaction.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from marshmallow import ValidationError
from sqlalchemy import Row, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from mapping import RESERVED_LIMITS, MappingConfig, UnknownCustomField, contact_for_sendgrid
from mapping.contact import resolve_field_id
from mapping.schemas import flatten_errors
from models import (
    AttemptKind,
    Contact,
    Delivery,
    DeliveryStatus,
    ImportJob,
    Integration,
    IntegrationStatus,
)
from models.base import has_status, utcnow
from models.db import among, insert_ignoring_conflicts
from workers.delivery.retry import RetryPolicy
from workers.integrations.status import mark_auth_failed, mark_paused
from workers.sendgrid.attempts import record_attempt
from workers.sendgrid.client import SendGridClient, SendGridResponse
from workers.sendgrid.fields import resolve_fields

MAX_CONTACTS = 30_000  # SendGrid: at most 30,000 contacts per PUT
MAX_BODY_BYTES = 6_000_000  # SendGrid: at most "6 MB"; the decimal reading is the lower, so safe either way
CLAIM_LIMIT = 60_000  # deliveries claimed per round (at most two full requests)
SHORT_WAIT_SECONDS = 2.0  # a rate-limit pause this short is waited out inside the flush
FLUSH_LOCK = 0x5347_0000  # advisory lock key space: FLUSH_LOCK + integration id
_CONTACT_INDEX = re.compile(r"contacts\[(\d+)\]")

ClientFor = Callable[[Integration], SendGridClient]


@dataclass
class Outgoing:
    """One contact of a request: its merged fields, serialized body, and the deliveries it carries."""

    email: str
    fields: dict
    deliveries: list[Delivery]
    body: bytes = b""


@dataclass
class Chunk:
    list_ids: list[str]
    contacts: list[Outgoing]
    fields_refreshed: bool = False


@dataclass
class FlushReport:
    requests: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    stopped: str | None = None  # why the flush stopped early (auth, paused, rate limit, outage)


def flush_integration(
    sessions: sessionmaker[Session],
    integration_id: int,
    client_for: ClientFor,
    policy: RetryPolicy | None = None,
    max_rounds: int = 100,
) -> FlushReport:
    report = FlushReport()
    for _ in range(max_rounds):
        with sessions.begin() as session:
            claimed = flush_round(session, integration_id, client_for, policy or RetryPolicy.from_env(), report)
        # Keep going while work arrived during the last request: whoever holds the lock sends it now,
        # instead of leaving it for the next trigger (the others gave up on the lock).
        if report.stopped or claimed == 0:
            break
    return report


def try_lock(session: Session, integration_id: int) -> bool:
    """One flush of an integration at a time: the lock lasts until this transaction ends, and a second flush
    gives up at once instead of queueing behind it (the holder sends what arrived meanwhile)."""
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": FLUSH_LOCK + integration_id}))


def flush_round(
    session: Session, integration_id: int, client_for: ClientFor, policy: RetryPolicy, report: FlushReport
) -> int:
    if not try_lock(session, integration_id):
        report.stopped = "another flush of this integration is running"
        return 0
    integration = session.get(Integration, integration_id)
    if integration is None or integration.status != IntegrationStatus.ACTIVE:
        report.stopped = f"integration is {integration.status if integration else 'gone'}"
        return 0
    if not wait_for_rate_limit(integration, report):
        return 0
    deliveries = list(
        session.scalars(
            select(Delivery)
            # Every queued delivery, retries included: backoff pauses the whole integration (paused_until), so
            # a contact's newer patch can never overtake an older one that is waiting to be retried.
            .where(Delivery.integration_id == integration_id, has_status(Delivery.status, DeliveryStatus.QUEUED))
            .order_by(Delivery.id)
            .limit(CLAIM_LIMIT)
            .with_for_update(skip_locked=True)
        )
    )
    client = client_for(integration)
    sync_suppressions(session, integration, client, report)
    if not deliveries:
        return 0
    pending = build_chunks(session, integration, deliveries, client, report)
    while pending and not report.stopped:
        chunk = pending.pop()
        pending.extend(send_chunk(session, integration, client, chunk, policy, report))
    return len(deliveries)


def wait_for_rate_limit(integration: Integration, report: FlushReport) -> bool:
    if integration.paused_until is None:
        return True
    wait = (integration.paused_until - utcnow()).total_seconds()
    if wait <= 0:
        integration.paused_until = None
        return True
    if wait <= SHORT_WAIT_SECONDS:
        time.sleep(wait)
        integration.paused_until = None
        return True
    report.stopped = f"rate limited until {integration.paused_until.isoformat()}"
    return False


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


def contact_states(session: Session, integration_id: int, emails: list[str]) -> dict[str, Row]:
    """The contacts rows of these emails (fields with their clocks, consent, lifetime value), by email."""
    found: dict[str, Row] = {}
    columns = (Contact.email, Contact.fields, Contact.consent, Contact.lifetime_value)
    for start in range(0, len(emails), 5000):
        part = emails[start : start + 5000]
        query = select(*columns).where(Contact.integration_id == integration_id, among(Contact.email, part))
        found.update((row.email, row) for row in session.execute(query))
    return found


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


def request_body(chunk: Chunk) -> bytes:
    head = b'{"list_ids":' + json.dumps(chunk.list_ids).encode() + b',"contacts":['
    return head + b",".join(out.body for out in chunk.contacts) + b"]}"


def send_chunk(
    session: Session,
    integration: Integration,
    client: SendGridClient,
    chunk: Chunk,
    policy: RetryPolicy,
    report: FlushReport,
) -> list[Chunk]:
    """PUT one request and record its outcome; returns the chunks to send again."""
    if not wait_for_rate_limit(integration, report):
        return []
    answer = client.upsert_contacts(request_body(chunk))
    report.requests += 1
    attempt = record_attempt(session, integration.id, AttemptKind.UPSERT, answer, len(chunk.contacts))
    now = utcnow()
    note_rate_limit(integration, answer, now)
    carried = [d for out in chunk.contacts for d in out.deliveries]
    if answer.ok:
        return accepted(session, integration, carried, attempt.id, answer, report, now)
    for delivery in carried:
        delivery.attempts += 1
        delivery.attempt_id = attempt.id
        delivery.status_code = answer.status
    if answer.status == 400:
        return rejected(session, integration, client, chunk, answer, report)
    if answer.status in (401, 403):
        mark_auth_failed(integration, answer.status)
        hold(carried, f"waiting: API key rejected ({answer.status}); run `integrations update-key`")
        report.stopped = "auth_failed"
    elif answer.status == 404 and "list" in answer.message.lower():
        pause_for_list(integration, answer, carried, report)
    elif answer.status == 413 and len(chunk.contacts) > 1:
        half = len(chunk.contacts) // 2
        return [Chunk(chunk.list_ids, chunk.contacts[:half]), Chunk(chunk.list_ids, chunk.contacts[half:])]
    elif answer.status == 429:
        reset_at = answer.ratelimit.reset_at or now + timedelta(seconds=1)
        integration.paused_until = max(reset_at, now) + timedelta(seconds=random.uniform(0, 1))
        hold(carried, "waiting: rate limited by SendGrid (429)")
        report.stopped = "rate_limited"
    elif answer.status is None or answer.status >= 500 or answer.status == 408:
        retry_later(integration, carried, answer, policy, now, report)
        report.stopped = "sendgrid_unavailable"
    else:
        fail(carried, f"SendGrid answered {answer.status}: {answer.message}", report)
    return []


def accepted(
    session: Session,
    integration: Integration,
    carried: list[Delivery],
    attempt_id: int,
    answer: SendGridResponse,
    report: FlushReport,
    now: datetime,
) -> list[Chunk]:
    """Every delivery of the request is sent: one UPDATE for all of them, then the job to poll. The loaded
    objects are left as they are (record_attempt flushed their earlier changes, and nothing reads them after
    their chunk is accepted)."""
    job_id = answer.job_id
    session.execute(
        update(Delivery)
        .where(among(Delivery.id, [d.id for d in carried]))
        .values(
            status=DeliveryStatus.SENT,
            reason=None if job_id else "accepted without a job id: not verifiable",
            next_attempt_at=None,
            job_id=job_id,
            attempts=Delivery.attempts + 1,
            attempt_id=attempt_id,
            status_code=answer.status,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    report.sent += len(carried)
    if job_id:
        insert_ignoring_conflicts(
            session,
            ImportJob.__table__,
            [
                {
                    "job_id": job_id,
                    "integration_id": integration.id,
                    "status": "pending",
                    "contacts_count": len({d.email for d in carried}),
                    "polls": 0,
                    "next_poll_at": now + timedelta(seconds=1),
                    "created_at": now,
                }
            ],
            "job_id",
        )
    return []


def rejected(
    session: Session,
    integration: Integration,
    client: SendGridClient,
    chunk: Chunk,
    answer: SendGridResponse,
    report: FlushReport,
) -> list[Chunk]:
    """A 400 rejects the whole request: find what it names, deal with that, send the rest again."""
    carried = [d for out in chunk.contacts for d in out.deliveries]
    errors = answer.errors
    if any("invalid custom field" in str(e.get("message", "")).lower() for e in errors):
        if chunk.fields_refreshed:
            fail(carried, f"SendGrid still rejects the custom fields after a refresh: {answer.message}", report)
            return []
        # Custom fields only: a reserved name (first_name ...) is not a custom field and cannot be created.
        names = {name for out in chunk.contacts for name in out.fields if name not in RESERVED_LIMITS}
        integration.field_ids = {}
        refresh_fields(session, integration, client, names)
        serialize(session, integration, client, chunk.contacts, report, refresh=False)  # refreshed just now
        return [Chunk(chunk.list_ids, [c for c in chunk.contacts if c.body], fields_refreshed=True)]
    if any("list" in str(e.get("field") or "").lower() for e in errors):
        pause_for_list(integration, answer, carried, report)
        return []
    bad: dict[int, str] = {}
    for error in errors:
        found = _CONTACT_INDEX.search(f"{error.get('field') or ''} {error.get('message') or ''}")
        if found and int(found.group(1)) < len(chunk.contacts):
            bad.setdefault(int(found.group(1)), str(error.get("message")))
    if not bad:
        fail(carried, f"SendGrid rejected the request: {answer.message}", report)
        return []
    for index, message in bad.items():
        fail(chunk.contacts[index].deliveries, f"SendGrid rejected this contact: {message}", report)
    rest = [out for i, out in enumerate(chunk.contacts) if i not in bad]
    return [Chunk(chunk.list_ids, rest, chunk.fields_refreshed)] if rest else []


def pause_for_list(
    integration: Integration, answer: SendGridResponse, carried: list[Delivery], report: FlushReport
) -> None:
    mark_paused(
        integration,
        f"SendGrid does not know list {integration.default_list_id!r} ({answer.message}). Check the list id "
        f"under Marketing > Contacts > Lists, then run "
        f"`signal-sendgrid integrations update {integration.id} --default-list-id ID`",
    )
    hold(carried, "waiting: integration paused (unknown list)")
    report.stopped = "paused"


def note_rate_limit(integration: Integration, answer: SendGridResponse, now: datetime) -> None:
    """When the window is used up, pause before the next request instead of provoking a 429."""
    limit = answer.ratelimit
    if limit.remaining == 0 and limit.reset_at and limit.reset_at > now:
        integration.paused_until = limit.reset_at


def retry_later(
    integration: Integration,
    carried: list[Delivery],
    answer: SendGridResponse,
    policy: RetryPolicy,
    now: datetime,
    report: FlushReport,
) -> None:
    # One jittered time for the whole integration: SendGrid is failing for the account, not for one request.
    # Everything queued goes out together when the pause ends, in order, in as few requests as possible.
    retry_at = policy.next_attempt(max((d.attempts for d in carried), default=0), now)
    integration.paused_until = retry_at
    for delivery in carried:
        if policy.expired(delivery.created_at, now):
            finish(delivery, DeliveryStatus.FAILED, f"gave up after {delivery.attempts} attempts: {answer.message}")
            report.failed += 1
        else:
            delivery.next_attempt_at = retry_at
            delivery.reason = f"retrying after: {answer.message or answer.status}"
            report.retrying += 1


def hold(deliveries: list[Delivery], reason: str) -> None:
    for delivery in deliveries:
        delivery.reason = reason


def fail(deliveries: list[Delivery], reason: str, report: FlushReport) -> None:
    for delivery in deliveries:
        finish(delivery, DeliveryStatus.FAILED, reason)
        report.failed += 1


def finish(delivery: Delivery, status: DeliveryStatus, reason: str | None) -> None:
    delivery.status, delivery.reason, delivery.next_attempt_at = status, reason, None


def sync_suppressions(session: Session, integration: Integration, client: SendGridClient, report: FlushReport) -> None:
    """Forward consent changes to the integration's unsubscribe group: withdrawals added, grants removed."""
    group = integration.unsubscribe_group_id
    if group is None:
        return
    contacts = session.scalars(
        select(Contact).where(
            Contact.integration_id == integration.id,
            or_(
                Contact.consent.is_(False) & Contact.suppressed.is_(False),
                Contact.consent.is_(True) & Contact.suppressed.is_(True),
            ),
        )
    ).all()
    withdraw = [c for c in contacts if c.consent is False]
    for start in range(0, len(withdraw), 1000):
        part = withdraw[start : start + 1000]
        answer = client.suppress(group, [c.email for c in part])
        record_attempt(session, integration.id, AttemptKind.SUPPRESSION, answer, len(part))
        report.requests += 1
        if answer.ok:
            for contact in part:
                contact.suppressed = True
    for contact in (c for c in contacts if c.consent is True):
        answer = client.unsuppress(group, contact.email)
        record_attempt(session, integration.id, AttemptKind.SUPPRESSION, answer, 1)
        report.requests += 1
        if answer.ok or answer.status == 404:
            contact.suppressed = False
