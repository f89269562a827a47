"""DELETE /v3/marketing/contacts?ids=... (an asynchronous deletion job) and the identifier search."""

from __future__ import annotations

from tests.sandbox.helpers import CONTACTS, job_status, upsert_and_apply

SEARCH = "/v3/marketing/contacts/search"


def contact_id(box, email: str) -> str:
    return box.api("POST", f"{SEARCH}/emails", json={"emails": [email]}).json()["result"][email]["contact"]["id"]


def test_a_deletion_is_a_job_read_at_the_import_status_endpoint(sandbox_factory):
    box = sandbox_factory(apply_delay=30.0)
    box.settings(apply_delay=0.0)
    upsert_and_apply(box, [{"email": "ann@example.com"}, {"email": "bo@example.com"}])
    box.settings(apply_delay=30.0)  # the deletion waits, as SendGrid's does
    answer = box.api("DELETE", f"{CONTACTS}?ids={contact_id(box, 'ann@example.com')},no-such-id")
    assert answer.status_code == 202
    job = answer.json()["job_id"]
    assert job_status(box, job)["status"] == "pending"
    assert box.contact("ann@example.com") is not None
    box.flush_jobs()
    status = job_status(box, job)
    assert status["status"] == "completed" and status["job_type"] == "delete"
    assert status["results"] == {"requested_count": 2, "deleted_count": 1}
    assert box.contact("ann@example.com") is None and box.contact("bo@example.com") is not None
    assert box.api("POST", f"{SEARCH}/emails", json={"emails": ["ann@example.com"]}).status_code == 404


def test_a_deletion_needs_ids_at_most_100_and_the_delete_scope(sandbox):
    assert sandbox.api("DELETE", CONTACTS).status_code == 400
    assert sandbox.api("DELETE", f"{CONTACTS}?ids=" + ",".join(f"id{n}" for n in range(101))).status_code == 400
    assert sandbox.api("DELETE", f"{CONTACTS}?delete_all_contacts=true").status_code == 400
    key = "SG.ReadOnlyKeyForDeletion0.read-only-key-for-the-deletion-test-00000000"
    sandbox.add_key(key, ["marketing_campaigns.read"])
    assert sandbox.api("DELETE", f"{CONTACTS}?ids=x", key=key).status_code == 403


def test_a_deletion_meets_the_configured_faults(sandbox):
    sandbox.set_faults(storm_429={"count": 1})
    answer = sandbox.api("DELETE", f"{CONTACTS}?ids=x")
    assert answer.status_code == 429 and "X-RateLimit-Reset" in answer.headers
    sandbox.set_faults(error_rate=1.0, error_status=503)
    assert sandbox.api("DELETE", f"{CONTACTS}?ids=x").status_code == 503
    sandbox.clear_faults()
    assert sandbox.api("DELETE", f"{CONTACTS}?ids=x").status_code == 202


def test_search_by_identifier_type(sandbox):
    upsert_and_apply(sandbox, [{"email": "cy@example.com", "external_id": "ext-9"}])
    found = sandbox.api("POST", f"{SEARCH}/identifiers/external_id", json={"identifiers": ["ext-9", "ext-0"]})
    assert found.status_code == 200
    assert found.json()["result"]["ext-9"]["contact"]["email"] == "cy@example.com"
    assert found.json()["result"]["ext-0"] == {"error": "contact not found"}
    email = sandbox.api("POST", f"{SEARCH}/identifiers/email", json={"identifiers": ["CY@example.com"]})
    assert email.status_code == 200
    assert sandbox.api("POST", f"{SEARCH}/identifiers/email", json={"identifiers": ["x@y.z"]}).status_code == 404
    assert sandbox.api("POST", f"{SEARCH}/identifiers/user_id", json={"identifiers": ["a"]}).status_code == 400
    assert sandbox.api("POST", f"{SEARCH}/identifiers/email", json={"identifiers": []}).status_code == 400
