"""POST /v3/marketing/contacts/search/emails and GET /v3/marketing/lists."""

from __future__ import annotations

from tests.sandbox.helpers import define, upsert_and_apply

SEARCH = "/v3/marketing/contacts/search/emails"


def test_search_returns_found_contacts_and_marks_missing_ones(sandbox):
    tier = define(sandbox, "tier")
    upsert_and_apply(sandbox, [{"email": "ann@example.com", "first_name": "Ann", "custom_fields": {tier: "gold"}}])
    response = sandbox.api("POST", SEARCH, json={"emails": ["Ann@example.com", "nobody@example.com"]})
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["nobody@example.com"] == {"error": "contact not found"}
    contact = result["Ann@example.com"]["contact"]
    assert contact["email"] == "ann@example.com" and contact["first_name"] == "Ann"
    assert contact["custom_fields"] == {"tier": "gold"}


def test_search_is_404_when_nothing_matches(sandbox):
    response = sandbox.api("POST", SEARCH, json={"emails": ["nobody@example.com"]})
    assert response.status_code == 404
    assert "errors" in response.json()


def test_search_takes_1_to_100_emails(sandbox):
    upsert_and_apply(sandbox, [{"email": "a@example.com"}])
    emails = ["a@example.com"] + [f"u{n}@example.com" for n in range(99)]
    assert sandbox.api("POST", SEARCH, json={"emails": emails}).status_code == 200
    assert sandbox.api("POST", SEARCH, json={"emails": [*emails, "one@more.com"]}).status_code == 400
    assert sandbox.api("POST", SEARCH, json={"emails": []}).status_code == 400


def test_lists_show_a_computed_contact_count(sandbox):
    body = sandbox.api("GET", "/v3/marketing/lists").json()
    assert body == {
        "result": [{"id": sandbox.list_id, "name": "Sandbox list", "contact_count": 0}],
        "_metadata": {"count": 1},
    }
    upsert_and_apply(sandbox, [{"email": "a@e.co"}, {"email": "b@e.co"}], list_ids=[sandbox.list_id])
    upsert_and_apply(sandbox, [{"email": "c@e.co"}])
    assert sandbox.api("GET", "/v3/marketing/lists").json()["result"][0]["contact_count"] == 2


def test_lists_given_at_start_and_added_at_runtime(sandbox_factory):
    box = sandbox_factory(lists=["11111111-1111-1111-1111-111111111111"])
    assert [r["id"] for r in box.api("GET", "/v3/marketing/lists").json()["result"]] == [
        "11111111-1111-1111-1111-111111111111"
    ]
    box.add_list("22222222-2222-2222-2222-222222222222", "Second")
    upsert_and_apply(box, [{"email": "a@e.co"}], list_ids=["22222222-2222-2222-2222-222222222222"])
    counts = {r["name"]: r["contact_count"] for r in box.api("GET", "/v3/marketing/lists").json()["result"]}
    assert counts == {"Sandbox list 1": 0, "Second": 1}
