"""PUT /v3/marketing/contacts: what rejects the whole request, and what the job applies."""

from __future__ import annotations

import json

from sandbox.upsert import MAX_BODY_BYTES, MAX_CONTACTS
from tests.sandbox.helpers import define, upsert, upsert_and_apply


def test_success_is_202_with_a_job_id(sandbox):
    response = upsert(sandbox, [{"email": "ann@example.com", "first_name": "Ann"}])
    assert response.status_code == 202
    assert set(response.json()) == {"job_id"}
    assert len(response.json()["job_id"]) == 36


def test_emails_are_lower_cased_and_upserts_match_them(sandbox):
    upsert_and_apply(sandbox, [{"email": "Ann@Example.COM", "first_name": "Ann"}])
    status = upsert_and_apply(sandbox, [{"email": "ANN@example.com", "last_name": "Lee"}])
    assert status["results"] == {"requested_count": 1, "updated_count": 1}
    [contact] = sandbox.contacts()
    assert contact["email"] == "ann@example.com"


def test_partial_update_keeps_omitted_fields(sandbox):
    tier = define(sandbox, "tier")
    upsert_and_apply(sandbox, [{"email": "a@example.com", "first_name": "A", "custom_fields": {tier: "gold"}}])
    upsert_and_apply(sandbox, [{"email": "a@example.com", "city": "Lyon"}])
    contact = sandbox.contact("a@example.com")
    assert contact["first_name"] == "A" and contact["city"] == "Lyon"
    assert contact["custom_fields"] == {"tier": "gold"}


def test_list_ids_apply_to_every_contact(sandbox):
    upsert_and_apply(sandbox, [{"email": "a@example.com"}, {"email": "b@example.com"}], list_ids=[sandbox.list_id])
    assert all(c["list_ids"] == [sandbox.list_id] for c in sandbox.contacts())


def test_unknown_top_level_keys_are_ignored(sandbox):
    upsert_and_apply(sandbox, [{"email": "a@example.com"}], listIds=[sandbox.list_id])
    assert sandbox.contact("a@example.com")["list_ids"] == []


def test_unknown_custom_field_ids_reject_the_whole_request(sandbox):
    known = define(sandbox, "known")
    contacts = [
        {"email": "a@example.com", "custom_fields": {known: "x", "e9_T": "y"}},
        {"email": "b@example.com", "custom_fields": {"e12_N": 3}},
    ]
    response = upsert(sandbox, contacts)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"field": "custom_fields", "message": "invalid custom field ids supplied - e9_T,e12_N"}]
    }
    assert sandbox.jobs() == []


def test_an_invalid_email_rejects_the_whole_request_pointing_at_the_contact(sandbox):
    contacts = [{"email": "ok@example.com"}] * 3 + [{"email": "not-an-email"}, {"email": "x@@y"}]
    response = upsert(sandbox, contacts)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "contacts[3].email", "message": "email 'not-an-email' is not valid"},
        {"field": "contacts[4].email", "message": "email 'x@@y' is not valid"},
    ]
    assert sandbox.flush_jobs() == 0 and sandbox.contacts() == []


def test_each_contact_needs_an_identifier(sandbox):
    response = upsert(sandbox, [{"email": "a@example.com"}, {"first_name": "Nobody"}])
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "contacts[1].identifier"
    for ident in ({"external_id": "u-1"}, {"anonymous_id": "anon-1"}, {"phone_number_id": "+33612345678"}):
        assert upsert(sandbox, [ident]).status_code == 202, ident


def test_phone_number_id_must_be_e164(sandbox):
    response = upsert(sandbox, [{"phone_number_id": "0612345678"}])
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "contacts[0].phone_number_id"


def test_an_unknown_list_id_is_a_400_naming_list_ids(sandbox):
    response = upsert(sandbox, [{"email": "a@example.com"}], list_ids=["00000000-0000-0000-0000-000000000000"])
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "list_ids", "message": "list_ids: unknown list id 00000000-0000-0000-0000-000000000000"}
    ]


def test_zero_contacts_or_no_contacts_key_is_400(sandbox):
    assert upsert(sandbox, []).status_code == 400
    assert sandbox.api("PUT", "/v3/marketing/contacts", json={"list_ids": []}).status_code == 400
    assert sandbox.api("PUT", "/v3/marketing/contacts", data=b"{nope").status_code == 400


def test_more_than_30000_contacts_is_413(sandbox):
    contacts = [{"email": f"u{n}@e.co"} for n in range(MAX_CONTACTS + 1)]
    response = upsert(sandbox, contacts)
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "contacts"
    assert upsert(sandbox, contacts[:MAX_CONTACTS]).status_code == 202


def test_a_body_over_6_mb_is_413(sandbox):
    body = json.dumps({"contacts": [{"email": "a@example.com", "first_name": "x" * MAX_BODY_BYTES}]}).encode()
    assert len(body) > MAX_BODY_BYTES
    response = sandbox.api("PUT", "/v3/marketing/contacts", data=body)
    assert response.status_code == 413
    assert "maximum" in response.json()["errors"][0]["message"]


def test_wrong_type_for_number_or_date_is_not_a_400_but_errored_in_the_job(sandbox):
    score, born = define(sandbox, "score", "Number"), define(sandbox, "born", "Date")
    contacts = [
        {"email": "good@example.com", "custom_fields": {score: 12, born: "03/14/1990"}},
        {"email": "text@example.com", "custom_fields": {score: "twelve"}},
        {"email": "date@example.com", "custom_fields": {born: "the 14th"}},
        {"email": "bool@example.com", "custom_fields": {score: True}},
    ]
    status = upsert_and_apply(sandbox, contacts)
    assert status["status"] == "errored"
    assert status["results"]["created_count"] == 1 and status["results"]["errored_count"] == 3
    assert [c["email"] for c in sandbox.contacts()] == ["good@example.com"]
    assert sandbox.contact("good@example.com")["custom_fields"] == {"score": 12, "born": "1990-03-14T00:00:00Z"}


def test_dates_are_accepted_as_us_dates_and_iso_8601(sandbox):
    born = define(sandbox, "born", "Date")
    values = {"a@e.co": "12/31/2020", "b@e.co": "2020-12-31", "c@e.co": "2020-12-31T10:00:00+02:00"}
    contacts = [{"email": email, "custom_fields": {born: value}} for email, value in values.items()]
    assert upsert_and_apply(sandbox, contacts)["status"] == "completed"
    stored = {c["email"]: c["custom_fields"]["born"] for c in sandbox.contacts()}
    assert stored == {
        "a@e.co": "2020-12-31T00:00:00Z",
        "b@e.co": "2020-12-31T00:00:00Z",
        "c@e.co": "2020-12-31T08:00:00Z",
    }


def test_an_update_must_carry_all_existing_identifiers(sandbox):
    upsert_and_apply(sandbox, [{"email": "a@example.com", "external_id": "u-1"}])
    status = upsert_and_apply(sandbox, [{"email": "a@example.com", "first_name": "Changed"}])
    assert status["status"] == "failed"
    assert status["results"] == {
        "requested_count": 1,
        "errored_count": 1,
        "errors_url": status["results"]["errors_url"],
    }
    assert "first_name" not in sandbox.contact("a@example.com")
    status = upsert_and_apply(sandbox, [{"email": "a@example.com", "external_id": "u-1", "first_name": "Ok"}])
    assert status["status"] == "completed"
    assert sandbox.contact("a@example.com")["first_name"] == "Ok"


def test_email_only_contacts_can_gain_an_identifier(sandbox):
    upsert_and_apply(sandbox, [{"email": "a@example.com"}])
    assert upsert_and_apply(sandbox, [{"email": "a@example.com", "external_id": "u-1"}])["status"] == "completed"
    assert sandbox.contact("a@example.com")["external_id"] == "u-1"
    assert upsert_and_apply(sandbox, [{"external_id": "u-1"}])["status"] == "failed"
