"""Sending one request and acting on SendGrid's answer: accepted, a 400 naming contacts or fields, an unknown
list, a rejected key, 413, 429, or an outage (the whole integration pauses with backoff)."""

from __future__ import annotations

import random
import re
import time
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models import AttemptKind, Delivery, DeliveryStatus, Integration
from models.base import utcnow
from workers.delivery.report import FlushReport, fail, finish, hold
from workers.delivery.request import Chunk, request_body
from workers.delivery.retry import RetryPolicy
from workers.delivery.store import mark_sent
from workers.integrations.status import mark_auth_failed, mark_paused
from workers.sendgrid.attempts import record_attempt
from workers.sendgrid.client import SendGridClient, SendGridResponse

SHORT_WAIT_SECONDS = 2.0  # a rate-limit pause this short is waited out inside the flush
_CONTACT_INDEX = re.compile(r"contacts\[(\d+)\]")


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
        mark_sent(session, integration.id, carried, attempt.id, answer.status, answer.job_id, now)
        report.sent += len(carried)
        return []
    for delivery in carried:
        delivery.attempts += 1
        delivery.attempt_id = attempt.id
        delivery.attempt_ids = [*(delivery.attempt_ids or ()), attempt.id]  # a new list: the ORM sees the change
        delivery.status_code = answer.status
    if answer.status == 400:
        return rejected(integration, chunk, answer, report)
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


def rejected(integration: Integration, chunk: Chunk, answer: SendGridResponse, report: FlushReport) -> list[Chunk]:
    """A 400 rejects the whole request: find what it names, deal with that, send the rest again (refused custom
    fields: the chunk goes back marked, and the flush refreshes their ids before sending it again)."""
    carried = [d for out in chunk.contacts for d in out.deliveries]
    errors = answer.errors
    if any("invalid custom field" in str(e.get("message", "")).lower() for e in errors):
        if chunk.fields_refreshed:
            fail(carried, f"SendGrid still rejects the custom fields after a refresh: {answer.message}", report)
            return []
        return [Chunk(chunk.list_ids, chunk.contacts, fields_refused=True)]
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
