"""429: no request before X-RateLimit-Reset (epoch or relative) plus jitter; Remaining 0 pauses before a 429."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models import DeliveryStatus, IntegrationStatus
from tests.helpers.delivery import (
    deliveries,
    drain,
    flush,
    get_integration,
    puts,
    queue_deliveries,
    settle_imports,
    status_counts,
    upsert_attempts,
)

pytestmark = pytest.mark.integration

BATCH = [(f"rate{i}@example.com", {"first_name": "R"}) for i in range(5)]


def assert_held_by_429(db, integration_id: int):
    report_integration = get_integration(db, integration_id)
    assert report_integration.status == IntegrationStatus.ACTIVE  # a rate limit is not an error to fix
    assert [(d.status, d.status_code, d.attempts, d.reason) for d in deliveries(db)] == [
        (DeliveryStatus.QUEUED, 429, 1, "waiting: rate limited by SendGrid (429)")
    ] * len(BATCH)
    [attempt] = upsert_attempts(db)
    assert (attempt.status_code, attempt.ratelimit_remaining) == (429, 0)
    return report_integration.paused_until, attempt


def assert_delivered_after(db, sandbox, client_for, paused_until: datetime) -> None:
    drain(db, sandbox_integration_id(db), client_for)
    log = puts(sandbox)
    assert [r["status"] for r in log] == [429, 202]
    # No request to SendGrid before the pause ended.
    assert datetime.fromtimestamp(log[1]["time"], UTC) >= paused_until
    settle_imports(db, sandbox, client_for)
    assert status_counts(db) == {"succeeded": len(BATCH)}
    assert len(sandbox.contacts()) == len(BATCH)


def sandbox_integration_id(db) -> int:
    return deliveries(db)[0].integration_id


def test_a_429_pauses_until_the_epoch_reset_plus_jitter(db, sandbox, integration, client_for):
    queue_deliveries(db, integration.id, BATCH)
    sandbox.set_faults(storm_429={"count": 1})

    report = flush(db, integration.id, client_for)

    assert (report.requests, report.stopped, report.sent) == (1, "rate_limited", 0)
    paused_until, attempt = assert_held_by_429(db, integration.id)
    assert attempt.ratelimit_reset > 10**9  # the epoch form
    reset_at = datetime.fromtimestamp(attempt.ratelimit_reset, UTC)
    assert reset_at <= paused_until < reset_at + timedelta(seconds=1)  # jitter: up to one second
    assert_delivered_after(db, sandbox, client_for, paused_until)


def test_a_429_pauses_for_the_relative_reset_plus_jitter(db, sandbox, integration, client_for):
    sandbox.settings(relative_reset=True)
    queue_deliveries(db, integration.id, BATCH)
    sandbox.set_faults(storm_429={"count": 1})

    report = flush(db, integration.id, client_for)

    assert report.stopped == "rate_limited"
    paused_until, attempt = assert_held_by_429(db, integration.id)
    assert 1 <= attempt.ratelimit_reset <= 2  # the relative form: seconds from now
    answered = datetime.fromtimestamp(puts(sandbox)[0]["time"], UTC)
    wait = (paused_until - answered).total_seconds()
    assert attempt.ratelimit_reset - 0.5 <= wait < attempt.ratelimit_reset + 1.5
    assert_delivered_after(db, sandbox, client_for, paused_until)


def test_remaining_zero_pauses_before_the_next_request_instead_of_provoking_a_429(db, sandbox, integration, client_for):
    sandbox.settings(rate_limit=1, rate_window=1.0)  # one request per second for the key, counted from now
    # An identify (with the list) and a page (without): two requests in one flush.
    queue_deliveries(db, integration.id, [("first@example.com", {"first_name": "F"})])
    queue_deliveries(db, integration.id, [("second@example.com", {"last_page_url": "https://x.example/"})], "page")

    drain(db, integration.id, client_for)

    log = puts(sandbox)
    assert [(r["status"], r["contacts"]) for r in log] == [(202, 1), (202, 1)]
    first, second = upsert_attempts(db)
    assert first.ratelimit_remaining == 0
    # The second request waited for the reset the first answer announced: SendGrid never had to say 429.
    assert log[1]["time"] >= first.ratelimit_reset
    assert all(r["status"] != 429 for r in sandbox.requests_log())
    assert {(d.status, d.attempts, d.status_code) for d in deliveries(db)} == {(DeliveryStatus.SENT, 1, 202)}
    settle_imports(db, sandbox, client_for)
    assert sorted(c["email"] for c in sandbox.contacts()) == ["first@example.com", "second@example.com"]
