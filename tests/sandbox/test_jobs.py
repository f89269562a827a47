"""GET /v3/marketing/contacts/imports/{id}: pending until the delay passes, then the outcome."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.sandbox.helpers import define, job_status, upsert


def test_a_job_is_pending_until_the_delay_has_passed(sandbox_factory):
    box = sandbox_factory(apply_delay=0.3)
    job_id = upsert(box, [{"email": "a@example.com"}]).json()["job_id"]
    status = job_status(box, job_id)
    assert status["status"] == "pending"
    assert status["job_type"] == "upsert_contacts"
    assert status["results"] == {"requested_count": 1}
    assert "finished_at" not in status
    assert box.contacts() == []
    time.sleep(0.35)
    status = job_status(box, job_id)
    assert status["status"] == "completed"
    assert status["results"] == {"requested_count": 1, "created_count": 1}
    assert status["finished_at"]


def test_inspection_also_applies_due_jobs(sandbox_factory):
    box = sandbox_factory(apply_delay=0.1)
    upsert(box, [{"email": "a@example.com"}])
    time.sleep(0.15)
    assert [c["email"] for c in box.contacts()] == ["a@example.com"]


def test_flush_jobs_applies_pending_jobs_now(sandbox_factory):
    box = sandbox_factory(apply_delay=60)
    job_id = upsert(box, [{"email": "a@example.com"}]).json()["job_id"]
    assert box.jobs()[0]["status"] == "pending"
    assert box.flush_jobs() == 1
    assert job_status(box, job_id)["status"] == "completed"


def test_the_delay_can_change_at_runtime(sandbox):
    sandbox.settings(apply_delay=60)
    job_id = upsert(sandbox, [{"email": "a@example.com"}]).json()["job_id"]
    assert job_status(sandbox, job_id)["status"] == "pending"


def test_completed_errored_and_failed_with_counts_and_errors_url(sandbox):
    score = define(sandbox, "score", "Number")
    first = upsert(sandbox, [{"email": "a@example.com"}]).json()["job_id"]
    assert job_status(sandbox, first)["status"] == "completed"

    mixed = [{"email": "a@example.com"}, {"email": "b@example.com"}, {"email": "c@e.co", "custom_fields": {score: "x"}}]
    status = job_status(sandbox, upsert(sandbox, mixed).json()["job_id"])
    assert status["status"] == "errored"
    results = status["results"]
    assert {k: v for k, v in results.items() if k != "errors_url"} == {
        "requested_count": 3,
        "created_count": 1,
        "updated_count": 1,
        "errored_count": 1,
    }
    errors = requests.get(results["errors_url"], timeout=5).json()["errors"]
    assert errors == [{"contact_index": 2, "email": "c@e.co", "message": errors[0]["message"]}]
    assert "score" in errors[0]["message"] and "Number" in errors[0]["message"]

    status = job_status(sandbox, upsert(sandbox, [{"email": "d@e.co", "custom_fields": {score: "y"}}]).json()["job_id"])
    assert status["status"] == "failed"
    assert "created_count" not in status["results"] and "updated_count" not in status["results"]


def test_jobs_apply_in_order(sandbox_factory):
    box = sandbox_factory(apply_delay=60)
    upsert(box, [{"email": "a@example.com", "first_name": "First"}])
    upsert(box, [{"email": "a@example.com", "first_name": "Second"}])
    assert box.flush_jobs() == 2
    assert box.contact("a@example.com")["first_name"] == "Second"


def test_an_unknown_job_is_404(sandbox):
    response = sandbox.api("GET", "/v3/marketing/contacts/imports/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["errors"][0]["message"] == "job not found"


def test_concurrent_upserts_are_all_applied(sandbox):
    def put(n):
        return upsert(sandbox, [{"email": f"t{n}-{i}@example.com"} for i in range(10)]).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        assert set(pool.map(put, range(20))) == {202}
    sandbox.flush_jobs()
    assert len(sandbox.contacts()) == 200
    assert {job["status"] for job in sandbox.jobs()} == {"completed"}
