"""5xx, timeouts, connection resets: exponential backoff with full jitter, then `failed` after the window."""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest

from models import DeliveryStatus, IntegrationStatus
from models.base import utcnow
from tests.helpers.delivery import (
    FAST_RETRY,
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
from workers.delivery.retry import RetryPolicy
from workers.sendgrid.client import SendGridClient

pytestmark = pytest.mark.integration

BATCH = [(f"down{i}@example.com", {"first_name": f"D{i}"}) for i in range(4)]
CONTACTS_PATH = ["/v3/marketing/contacts"]


def test_full_jitter_delays_are_uniform_under_the_exponential_cap():
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=20.0)
    for attempts, ceiling in ((0, 1.0), (1, 2.0), (3, 8.0), (5, 20.0), (40, 20.0)):
        delays = [policy.delay(attempts) for _ in range(2000)]
        assert 0 <= min(delays) < ceiling * 0.05 and ceiling * 0.95 < max(delays) <= ceiling
        assert statistics.mean(delays) == pytest.approx(ceiling / 2, rel=0.1)
    now = utcnow()
    assert not policy.expired(now - timedelta(hours=23), now)
    assert policy.expired(now - timedelta(hours=25), now)


def test_a_5xx_backs_off_then_the_deliveries_arrive(db, sandbox, integration, client_for):
    queue_deliveries(db, integration.id, BATCH)
    sandbox.set_faults(error_rate=1, error_status=503, paths=CONTACTS_PATH)
    policy = RetryPolicy(base_seconds=0.2, cap_seconds=0.6, window=timedelta(hours=1))

    before = utcnow()
    report = flush(db, integration.id, client_for, policy)

    assert (report.requests, report.retrying, report.failed, report.stopped) == (1, 4, 0, "sendgrid_unavailable")
    held = deliveries(db)
    for d in held:
        assert (d.status, d.status_code, d.attempts, d.reason) == (
            DeliveryStatus.QUEUED,
            503,
            1,
            "retrying after: unavailable",
        )
        # Full jitter after the first attempt: uniform in [0, base * 2^1].
        assert before <= d.next_attempt_at <= utcnow() + timedelta(seconds=0.4)
    assert get_integration(db, integration.id).status == IntegrationStatus.ACTIVE

    # Still failing: every try is recorded, and the deliveries keep waiting rather than failing.
    for _ in range(3):
        drain_until_attempts(db, integration.id, client_for, policy, len(puts(sandbox)) + 1)
    assert [r["status"] for r in puts(sandbox)] == [503] * 4
    assert {(d.status, d.attempts) for d in deliveries(db)} == {(DeliveryStatus.QUEUED, 4)}
    assert [a.status_code for a in upsert_attempts(db)] == [503] * 4

    sandbox.clear_faults()
    drain(db, integration.id, client_for, policy)
    settle_imports(db, sandbox, client_for)
    assert [r["status"] for r in puts(sandbox)] == [503] * 4 + [202]
    assert {(d.status, d.attempts, d.status_code) for d in deliveries(db)} == {(DeliveryStatus.SUCCEEDED, 5, 202)}
    assert sorted(c["email"] for c in sandbox.contacts()) == [email for email, _ in BATCH]


def drain_until_attempts(db, integration_id, client_for, policy, requests: int) -> None:
    import time

    deadline = time.monotonic() + 10
    while len(upsert_attempts(db)) < requests:
        assert time.monotonic() < deadline
        flush(db, integration_id, client_for, policy)
        time.sleep(0.02)


def test_deliveries_fail_after_the_retry_window(db, sandbox, integration, client_for):
    queue_deliveries(db, integration.id, BATCH)
    sandbox.set_faults(error_rate=1, error_status=500, paths=CONTACTS_PATH)
    policy = RetryPolicy(base_seconds=0.02, cap_seconds=0.1, window=timedelta(seconds=0.5))

    drain(db, integration.id, client_for, policy, seconds=10)

    failed = deliveries(db)
    attempts = failed[0].attempts
    assert attempts >= 2  # retried within the window before giving up
    assert [(d.status, d.status_code, d.attempts, d.reason, d.next_attempt_at) for d in failed] == [
        (DeliveryStatus.FAILED, 500, attempts, f"gave up after {attempts} attempts: internal error", None)
    ] * len(BATCH)
    assert len(puts(sandbox)) == attempts == len(upsert_attempts(db))
    assert sandbox.contacts() == []
    assert get_integration(db, integration.id).status == IntegrationStatus.ACTIVE


@pytest.mark.parametrize(
    ("faults", "error"),
    [({"latency_ms": 600}, "ReadTimeout"), ({"reset_rate": 1.0}, "ConnectionError")],
    ids=["timeout", "connection-reset"],
)
def test_timeouts_and_resets_back_off_then_arrive(db, sandbox, integration, faults, error):
    impatient = lambda i: SendGridClient(i.api_url, sandbox.key, timeout=(1.0, 0.2))  # noqa: E731
    queue_deliveries(db, integration.id, BATCH)
    sandbox.set_faults(**faults, paths=CONTACTS_PATH)

    report = flush(db, integration.id, impatient)

    assert (report.requests, report.retrying, report.stopped) == (1, 4, "sendgrid_unavailable")
    [attempt] = upsert_attempts(db)
    assert attempt.status_code is None and attempt.error.startswith(error)
    for d in deliveries(db):
        assert (d.status, d.status_code, d.attempts) == (DeliveryStatus.QUEUED, None, 1)
        assert d.reason.startswith(f"retrying after: {error}") and d.next_attempt_at is not None
        assert sandbox.key not in d.reason

    sandbox.clear_faults()
    drain(db, integration.id, impatient, FAST_RETRY)
    settle_imports(db, sandbox, impatient)
    assert {(d.status, d.attempts, d.status_code) for d in deliveries(db)} == {(DeliveryStatus.SUCCEEDED, 2, 202)}
    assert status_counts(db) == {"succeeded": len(BATCH)}
    assert sorted(c["email"] for c in sandbox.contacts()) == [email for email, _ in BATCH]


def test_a_newer_patch_never_overtakes_an_older_one_waiting_for_a_retry(db, sandbox, integration, client_for):
    """Backoff pauses the integration, not single deliveries: after it, old and new go out together, in order."""
    queue_deliveries(db, integration.id, [("order@example.com", {"first_name": "Old"})])
    sandbox.set_faults(error_rate=1, error_status=503, paths=CONTACTS_PATH)
    policy = RetryPolicy(base_seconds=0.5, cap_seconds=0.5, window=timedelta(hours=1))
    assert flush(db, integration.id, client_for, policy).stopped == "sendgrid_unavailable"
    sandbox.clear_faults()
    queue_deliveries(db, integration.id, [("order@example.com", {"first_name": "New"})])

    drain(db, integration.id, client_for, policy)
    settle_imports(db, sandbox, client_for)
    assert [r["status"] for r in puts(sandbox)] == [503, 202]
    assert puts(sandbox)[1]["contacts"] == 1
    assert sandbox.contact("order@example.com")["first_name"] == "New"
