"""workers/sendgrid/fields.py: resolving custom field names to SendGrid's ids, creating the missing ones."""

from __future__ import annotations

from workers.sendgrid.client import SendGridResponse
from workers.sendgrid.fields import resolve_fields


def reply(status: int, body: object = None) -> SendGridResponse:
    return SendGridResponse("GET", "/v3/marketing/field_definitions", status, body)


class StubClient:
    def __init__(self, definitions: SendGridResponse, created: dict[str, SendGridResponse] | None = None) -> None:
        self.definitions = definitions
        self.created = created or {}
        self.creates: list[tuple[str, str]] = []

    def field_definitions(self) -> SendGridResponse:
        return self.definitions

    def create_field(self, name: str, field_type: str) -> SendGridResponse:
        self.creates.append((name, field_type))
        return self.created.get(name, reply(201, {"id": f"new_{name}"}))


EXISTING = {
    "custom_fields": [
        {"id": "e1_T", "name": "Plan", "field_type": "Text"},
        {"id": "e2_N", "name": "lifetime_value", "field_type": "Number"},
        {"id": "e3_D", "name": "last_purchase_at", "field_type": "Date"},
    ],
    "reserved_fields": [{"id": "_rf0_T", "name": "first_name", "field_type": "Text"}],
}


def test_existing_fields_are_found_case_insensitively_and_nothing_is_created():
    client, recorded = StubClient(reply(200, EXISTING)), []
    result = resolve_fields(client, {"plan": "Text", "lifetime_value": "Number"}, recorded.append)
    assert result.ids == {"plan": "e1_T", "lifetime_value": "e2_N"}
    assert (result.created, result.type_mismatches, result.error) == ([], [], None)
    assert client.creates == []
    assert recorded == [client.definitions]


def test_missing_fields_are_created_and_every_request_is_recorded():
    client, recorded = StubClient(reply(200, EXISTING)), []
    result = resolve_fields(client, {"plan": "Text", "tier": "Text", "score": "Number"}, recorded.append)
    assert result.ids == {"plan": "e1_T", "tier": "new_tier", "score": "new_score"}
    assert result.created == ["tier", "score"]
    assert client.creates == [("tier", "Text"), ("score", "Number")]
    assert len(recorded) == 3


def test_a_type_mismatch_is_reported_and_the_id_still_used():
    result = resolve_fields(StubClient(reply(200, EXISTING)), {"last_purchase_at": "Text"})
    assert result.ids == {"last_purchase_at": "e3_D"}
    assert result.type_mismatches == ["last_purchase_at is Date in SendGrid, the mapping writes Text"]


def test_reading_the_definitions_failing_stops_at_once():
    client = StubClient(reply(403, {"errors": [{"message": "access forbidden"}]}))
    result = resolve_fields(client, {"plan": "Text"})
    assert result.error == "reading custom fields failed: access forbidden"
    assert (result.ids, client.creates) == ({}, [])


def test_the_first_field_that_cannot_be_created_stops_the_rest():
    created = {"b": reply(400, {"errors": [{"message": "field limit reached"}]})}
    client = StubClient(reply(200, {"custom_fields": []}), created)
    result = resolve_fields(client, {"a": "Text", "b": "Text", "c": "Text"})
    assert result.ids == {"a": "new_a"}
    assert result.error == "creating custom field 'b' (Text) failed: field limit reached"
    assert client.creates == [("a", "Text"), ("b", "Text")]


def test_a_creation_answer_without_an_id_is_a_failure():
    client = StubClient(reply(200, None), {"a": reply(201, {"name": "a"})})
    result = resolve_fields(client, {"a": "Text"})
    assert result.ids == {}
    assert result.error.startswith("creating custom field 'a' (Text) failed")


def test_definitions_without_a_name_are_ignored():
    body = {"custom_fields": [{"id": "x"}, {"id": "e9_T", "name": "plan"}]}
    assert resolve_fields(StubClient(reply(200, body)), {"plan": "Text"}).ids == {"plan": "e9_T"}
