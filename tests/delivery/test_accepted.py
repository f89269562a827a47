"""2xx with a job id: deliveries `sent` with the job id, then `succeeded` or `import_errored` after polling."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models import DeliveryStatus, ImportJobStatus, IntegrationStatus
from models.base import utcnow
from tests.factories import identify
from tests.helpers.delivery import (
    deliveries,
    flush,
    get_integration,
    import_jobs,
    process,
    puts,
    queue_deliveries,
    settle_imports,
    upsert_attempts,
)
from workers.delivery.imports import poll_imports

pytestmark = pytest.mark.integration


def test_accepted_deliveries_are_sent_with_the_job_id_then_succeed(db, sandbox, integration, client_for):
    touched = process(db, [identify(f"ok{i}@example.com", f"u{i}", first_name=f"Ok{i}") for i in range(5)])
    assert touched == {integration.id}

    report = flush(db, integration.id, client_for)

    assert (report.requests, report.sent, report.failed, report.stopped) == (1, 5, 0, None)
    [attempt] = upsert_attempts(db)
    assert (attempt.status_code, attempt.contacts_count, attempt.error) == (202, 5, None)
    assert attempt.job_id and attempt.body_bytes == puts(sandbox)[0]["body_bytes"]
    sent = deliveries(db)
    assert [(d.status, d.job_id, d.status_code, d.attempts, d.attempt_id) for d in sent] == [
        (DeliveryStatus.SENT, attempt.job_id, 202, 1, attempt.id)
    ] * 5
    assert all(d.reason is None for d in sent)
    [job] = import_jobs(db)
    assert (job.job_id, job.status, job.contacts_count) == (attempt.job_id, ImportJobStatus.PENDING, 5)

    assert settle_imports(db, sandbox, client_for) == 1

    assert {d.status for d in deliveries(db)} == {DeliveryStatus.SUCCEEDED}
    [job] = import_jobs(db)
    assert job.status == ImportJobStatus.COMPLETED and job.results["created_count"] == 5
    assert get_integration(db, integration.id).status == IntegrationStatus.ACTIVE
    contacts = {c["email"]: c for c in sandbox.contacts()}
    assert sorted(contacts) == [f"ok{i}@example.com" for i in range(5)]
    assert contacts["ok3@example.com"]["first_name"] == "Ok3"
    assert contacts["ok3@example.com"]["custom_fields"]["signal_user_id"] == "u3"
    assert contacts["ok3@example.com"]["list_ids"] == [sandbox.list_id]


def test_an_import_job_with_errors_marks_its_deliveries_import_errored(db, sandbox, integration, client_for):
    # The mapping would never write text into the Number field lifetime_value; a crafted patch does, and
    # SendGrid only says so in the import job, after the 202.
    queue_deliveries(
        db,
        integration.id,
        [
            ("good1@example.com", {"first_name": "Good"}),
            ("bad@example.com", {"lifetime_value": "twelve euros"}),
            ("good2@example.com", {"lifetime_value": 12.5}),
        ],
    )

    report = flush(db, integration.id, client_for)
    assert (report.requests, report.sent) == (1, 3)
    assert {d.status for d in deliveries(db)} == {DeliveryStatus.SENT}

    assert settle_imports(db, sandbox, client_for) == 1

    [job] = import_jobs(db)
    assert job.status == ImportJobStatus.ERRORED
    assert job.results["errored_count"] == 1 and job.results["created_count"] == 2
    errors_url = job.results["errors_url"]
    assert errors_url.startswith(sandbox.url) and job.job_id in errors_url
    for delivery in deliveries(db):
        assert delivery.status == DeliveryStatus.IMPORT_ERRORED
        assert delivery.reason == (
            f"SendGrid import errored: requested 3, created 2, errored 1; errors: {errors_url}"
        ), delivery.reason
    [error] = sandbox.job_errors(job.job_id)
    assert error["email"] == "bad@example.com" and "lifetime_value" in error["message"]
    assert sorted(c["email"] for c in sandbox.contacts()) == ["good1@example.com", "good2@example.com"]


def test_an_import_job_where_every_contact_errored_is_failed(db, sandbox, integration, client_for):
    queue_deliveries(db, integration.id, [("nan@example.com", {"lifetime_value": "n/a"})])
    flush(db, integration.id, client_for)
    settle_imports(db, sandbox, client_for)

    [job] = import_jobs(db)
    assert job.status == ImportJobStatus.FAILED
    [delivery] = deliveries(db)
    assert delivery.status == DeliveryStatus.IMPORT_ERRORED
    assert delivery.reason.startswith("SendGrid import failed: requested 1, errored 1; errors: ")
    assert sandbox.contacts() == []


def test_a_pending_job_is_polled_again_later(db, sandbox, integration, client_for):
    sandbox.settings(apply_delay=60.0)
    queue_deliveries(db, integration.id, [("later@example.com", {"first_name": "Later"})])
    flush(db, integration.id, client_for)

    assert poll_imports(db, client_for, now=utcnow() + timedelta(seconds=5)) == 0
    [job] = import_jobs(db)
    assert (job.status, job.polls) == (ImportJobStatus.PENDING, 1)
    assert job.next_poll_at > utcnow() + timedelta(seconds=5)
    assert {d.status for d in deliveries(db)} == {DeliveryStatus.SENT}

    sandbox.flush_jobs()
    assert poll_imports(db, client_for, now=utcnow() + timedelta(minutes=5)) == 1
    assert {d.status for d in deliveries(db)} == {DeliveryStatus.SUCCEEDED}
    assert sandbox.contact("later@example.com")["first_name"] == "Later"
