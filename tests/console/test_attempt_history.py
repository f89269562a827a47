"""An event's page lists every upsert that carried its delivery (deliveries.attempt_ids), through the real flush
against the sandbox with faults: 503, 503, then 202, in that order, each with its request and answer."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from models import AttemptKind, Delivery, DeliveryAttempt, DeliveryStatus, Event
from tests.console.test_live_events import client_for, console, page  # noqa: F401 - fixtures
from tests.factories import identify
from tests.helpers.delivery import flush, process, settle_imports

pytestmark = pytest.mark.integration

CONTACTS = ["/v3/marketing/contacts"]
ATTEMPT = re.compile(
    r'<div class="attempt" id="attempt-(\d+)">\s*<p><b>(\w+)</b>(?: <span class="attempt-status">(\w+)</span>)?'
)


def upserts(db) -> list[DeliveryAttempt]:
    with db() as session:
        kind = DeliveryAttempt.kind == AttemptKind.UPSERT
        return list(session.scalars(select(DeliveryAttempt).where(kind).order_by(DeliveryAttempt.id)))


def delivery_of(db, message_id: str) -> Delivery:
    with db() as session:
        event_id = select(Event.id).where(Event.message_id == message_id).scalar_subquery()
        return session.scalar(select(Delivery).where(Delivery.event_id == event_id))


def flush_until(db, integration_id: int, client_for, done, seconds: float = 10.0) -> None:  # noqa: F811
    """Flush as the sweep would (the 503's backoff pauses the integration for at most 0.2 s here)."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the flush did not get there in time"
        flush(db, integration_id, client_for)
        time.sleep(0.05)


def test_a_delivery_that_failed_twice_with_503_then_succeeded_shows_three_attempts_in_order(
    console,  # noqa: F811 - the fixture imported above
    db,
    integration,
    sandbox,
    client_for,  # noqa: F811
):
    process(db, [{**identify("try@example.com", "u-try", 0, first_name="Tri"), "messageId": "m-try"}])
    sandbox.set_faults(error_rate=1, error_status=503, paths=CONTACTS)
    flush_until(db, integration.id, client_for, lambda: len(upserts(db)) >= 2)
    sandbox.clear_faults()
    flush_until(db, integration.id, client_for, lambda: delivery_of(db, "m-try").status != DeliveryStatus.QUEUED)
    settle_imports(db, sandbox, client_for)

    tries = upserts(db)
    assert [a.status_code for a in tries] == [503, 503, 202]
    delivery = delivery_of(db, "m-try")
    assert (delivery.status, delivery.attempts, delivery.status_code) == (DeliveryStatus.SUCCEEDED, 3, 202)
    assert delivery.attempt_ids == [a.id for a in tries] and delivery.attempt_id == tries[-1].id

    html = page(console, f"/live-events/{delivery.event_id}")
    shown = [(int(i), kind, status) for i, kind, status in ATTEMPT.findall(html)]
    assert shown[:3] == [(a.id, "upsert", str(a.status_code)) for a in tries]  # oldest first
    assert [kind for _, kind, _ in shown[3:]] and {kind for _, kind, _ in shown[3:]} == {"import_poll"}
    assert html.count(f"PUT {sandbox.url}/v3/marketing/contacts") == 3
    assert html.count('"status": 503') == 2 and html.count('"status": 202') == 1
    assert html.count("try@example.com") >= 3  # each request's contact, as decided
    assert sandbox.key not in html and "earlier attempt(s)" not in html
