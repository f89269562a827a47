"""Flushing an integration's queued deliveries: each contact's current state, split at SendGrid's limits, PUT, record.

One flush at a time per integration (a PostgreSQL advisory lock), so requests for one contact never race
and the account's rate limit is respected fleet-wide. Each round is one transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from config.settings import ConfigError
from models import DeliveryStatus, Integration, IntegrationStatus
from workers.delivery.chunks import build_chunks, refreshed
from workers.delivery.outcomes import send_chunk, wait_for_rate_limit
from workers.delivery.report import FlushReport
from workers.delivery.retry import RetryPolicy
from workers.delivery.store import claim_queued, try_lock
from workers.delivery.suppressions import sync_suppressions
from workers.integrations.status import mark_config_invalid, mark_key_unreadable
from workers.privacy.guard import skip_erased
from workers.sendgrid.client import SendGridClient

ClientFor = Callable[[Integration], SendGridClient]


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
            claimed = flush_round(session, integration_id, client_for, policy or RetryPolicy.from_settings(), report)
        # Keep going while work arrived during the last request: whoever holds the lock sends it now,
        # instead of leaving it for the next trigger (the others gave up on the lock).
        if report.stopped or claimed == 0:
            break
    return report


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
    try:
        client = client_for(integration)
    except ConfigError as e:  # this worker cannot decrypt the key: hold this integration, never the others
        mark_key_unreadable(integration, e)
        report.stopped = "key_unreadable"
        return 0
    if mark_config_invalid(integration):  # its mapping does not load: nothing to build requests with
        report.stopped = "config_invalid"
        return 0
    deliveries = claim_queued(session, integration_id)
    if erased := skip_erased(session, deliveries, DeliveryStatus.SKIPPED):  # an erasure came after processing
        report.skipped += len(erased)
        deliveries = [d for d in deliveries if d.id not in erased]
    sync_suppressions(session, integration, client, report)
    if not deliveries:
        return len(erased)
    pending = build_chunks(session, integration, deliveries, client, report)
    while pending and not report.stopped:
        chunk = pending.pop()
        if chunk.fields_refused:  # SendGrid refused its custom fields: their ids again, then the chunk again
            pending.extend(refreshed(session, integration, client, chunk, report))
            continue
        pending.extend(send_chunk(session, integration, client, chunk, policy, report))
    return len(deliveries)
