"""The inspection and control endpoints under /_sandbox."""

from __future__ import annotations

import requests

from tests.sandbox.helpers import define, upsert, upsert_and_apply


def test_contacts_are_shown_as_sendgrid_holds_them(sandbox):
    tier, score = define(sandbox, "tier"), define(sandbox, "score", "Number")
    contact = {
        "email": "Ann@Example.com",
        "external_id": "u-1",
        "first_name": "Ann",
        "custom_fields": {tier: "gold", score: "7"},
    }
    upsert_and_apply(sandbox, [contact], list_ids=[sandbox.list_id])
    [stored] = sandbox.contacts()
    assert stored["email"] == "ann@example.com" and stored["external_id"] == "u-1"
    assert stored["first_name"] == "Ann"
    assert stored["custom_fields"] == {"tier": "gold", "score": 7}
    assert stored["custom_fields_by_id"] == {tier: "gold", score: 7}
    assert stored["list_ids"] == [sandbox.list_id]
    assert stored["created_at"] and stored["updated_at"] and stored["id"]


def test_the_request_log_never_holds_the_key(sandbox):
    upsert(sandbox, [{"email": "a@e.co"}, {"email": "b@e.co"}])
    sandbox.api("GET", "/v3/scopes")
    log = sandbox.requests_log()
    put, get = log
    assert {k: put[k] for k in ("method", "path", "status", "contacts")} == {
        "method": "PUT",
        "path": "/v3/marketing/contacts",
        "status": 202,
        "contacts": 2,
    }
    assert put["body_bytes"] > 0 and put["time"] > 0
    assert (get["method"], get["status"], get["contacts"]) == ("GET", 200, None)
    raw = requests.get(sandbox.url + "/_sandbox/requests", timeout=5).text
    assert sandbox.key not in raw and sandbox.key[3:12] not in raw
    assert "Authorization" not in raw and "Bearer" not in raw


def test_jobs_list_their_status_and_errors(sandbox):
    score = define(sandbox, "score", "Number")
    upsert_and_apply(sandbox, [{"email": "a@e.co", "custom_fields": {score: "x"}}])
    [job] = sandbox.jobs()
    assert job["status"] == "failed"
    assert job["errors"][0]["contact_index"] == 0
    assert sandbox.job_errors(job["id"]) == job["errors"]


def test_reset_forgets_everything_but_keys_and_lists(sandbox):
    define(sandbox, "tier")
    upsert_and_apply(sandbox, [{"email": "a@e.co"}])
    sandbox.api("POST", "/v3/asm/suppressions/global", json={"recipient_emails": ["a@e.co"]})
    sandbox.set_faults(latency_ms=1)
    sandbox.revoke(sandbox.key)
    sandbox.add_list("33333333-3333-3333-3333-333333333333")
    sandbox.reset()
    assert sandbox.contacts() == [] and sandbox.jobs() == [] and sandbox.requests_log() == []
    assert sandbox.suppressions()["global"] == []
    assert sandbox.faults()["latency_ms"] == 0
    assert sandbox.api("GET", "/v3/scopes").status_code == 401  # keys kept as they were
    sandbox.reset(keys=True, lists=True)
    assert sandbox.api("GET", "/v3/marketing/field_definitions").json()["custom_fields"] == []
    assert [r["id"] for r in sandbox.api("GET", "/v3/marketing/lists").json()["result"]] == [sandbox.list_id]


def test_settings_can_be_read(sandbox):
    assert sandbox.settings() == {"apply_delay": 0.0, "rate_limit": 600, "rate_window": 1.0, "relative_reset": False}
    assert sandbox.health()
