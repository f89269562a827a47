"""workers/delivery/chunks.py: splitting at SendGrid's limits, the request body, current values, serializing."""

from __future__ import annotations

import json
from decimal import Decimal
from types import SimpleNamespace
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from models import DeliveryStatus
from tests.unit.builders import delivery, integration
from workers.delivery import chunks
from workers.delivery.chunks import (
    MAX_BODY_BYTES,
    MAX_CONTACTS,
    current_values,
    lifetime_value_field,
    serialize,
    split,
    unknown_fields,
)
from workers.delivery.report import FlushReport
from workers.delivery.request import Chunk, Outgoing, request_body

LISTS = ["list-1"]
# split counts the envelope as json.dumps writes it (with spaces) and one comma per contact, so the request it
# builds is at most this many bytes smaller than what it counted: a safe margin, never an overrun.
SLACK = 8


def contact(i: int, pad: int = 0) -> Outgoing:
    body = json.dumps({"email": f"c{i}@example.com", "first_name": "x" * pad}, separators=(",", ":")).encode()
    return Outgoing(f"c{i}@example.com", {}, [], body)


def sized(i: int, size: int) -> Outgoing:
    """A contact whose serialized body is exactly `size` bytes (a valid JSON object)."""
    bare = len(contact(i).body)
    assert size >= bare
    out = contact(i, size - bare)
    assert len(out.body) == size
    return out


def counted(list_ids: list[str], contacts: list[Outgoing]) -> int:
    """What split counts for one request holding these contacts."""
    return len(json.dumps({"list_ids": list_ids, "contacts": []})) + sum(len(c.body) + 1 for c in contacts)


def filling(list_ids: list[str], total: int, parts: int) -> list[Outgoing]:
    """`parts` contacts that split counts as exactly `total` bytes in one request."""
    room = total - counted(list_ids, [])
    sizes = [room // parts - 1] * parts
    sizes[-1] += room - sum(s + 1 for s in sizes)
    contacts = [sized(i, s) for i, s in enumerate(sizes)]
    assert counted(list_ids, contacts) == total
    return contacts


def emails(chunk_list: list[Chunk]) -> list[str]:
    return [out.email for chunk in chunk_list for out in chunk.contacts]


def sent_emails(chunk: Chunk) -> list[str]:
    return [c["email"] for c in json.loads(request_body(chunk))["contacts"]]


# --- split: the contact limit ---------------------------------------------------------------------------------


def test_exactly_max_contacts_is_one_request():
    contacts = [contact(i) for i in range(MAX_CONTACTS)]
    result = split(LISTS, contacts)
    assert [len(c.contacts) for c in result] == [30_000]
    assert result[0].list_ids == LISTS


def test_one_contact_over_max_contacts_starts_a_second_request():
    contacts = [contact(i) for i in range(MAX_CONTACTS + 1)]
    result = split(LISTS, contacts)
    assert [len(c.contacts) for c in result] == [30_000, 1]
    assert emails(result) == [c.email for c in contacts]


def test_twice_max_contacts_and_one_is_three_requests_in_order():
    contacts = [contact(i) for i in range(2 * MAX_CONTACTS + 1)]
    result = split(LISTS, contacts)
    assert [len(c.contacts) for c in result] == [30_000, 30_000, 1]
    assert emails(result) == [c.email for c in contacts]


def test_no_contacts_no_request():
    assert split(LISTS, []) == []


# --- split: the byte limit ------------------------------------------------------------------------------------


def test_contacts_counted_at_exactly_max_body_bytes_are_one_request():
    contacts = filling(LISTS, MAX_BODY_BYTES, 3)
    result = split(LISTS, contacts)
    assert len(result) == 1
    assert len(request_body(result[0])) <= MAX_BODY_BYTES


def test_one_byte_over_max_body_bytes_starts_a_second_request():
    contacts = filling(LISTS, MAX_BODY_BYTES + 1, 3)
    result = split(LISTS, contacts)
    assert [len(c.contacts) for c in result] == [2, 1]
    assert emails(result) == [c.email for c in contacts]
    assert all(len(request_body(c)) <= MAX_BODY_BYTES for c in result)


def test_a_request_body_just_under_the_limit_is_sent_whole():
    """The margin split keeps is a few bytes, not a contact: a body within SLACK of the limit is one request."""
    contacts = filling(LISTS, MAX_BODY_BYTES, 6)
    body = request_body(split(LISTS, contacts)[0])
    assert MAX_BODY_BYTES - SLACK <= len(body) <= MAX_BODY_BYTES


def test_a_request_body_over_the_limit_is_never_built():
    # 61 contacts of 100,000 bytes: 6.1 MB in all, so at most 59 fit one request.
    contacts = [sized(i, 100_000) for i in range(61)]
    result = split(LISTS, contacts)
    assert [len(c.contacts) for c in result] == [59, 2]
    assert all(len(request_body(c)) <= MAX_BODY_BYTES for c in result)


def test_a_contact_larger_than_the_limit_goes_alone_and_is_not_lost():
    """It cannot fit anywhere: sent alone, SendGrid's 413 then fails that one contact only (send_chunk)."""
    big = sized(1, MAX_BODY_BYTES + 10)
    result = split(LISTS, [contact(0), big, contact(2)])
    assert [[o.email for o in c.contacts] for c in result] == [
        ["c0@example.com"],
        ["c1@example.com"],
        ["c2@example.com"],
    ]


def test_the_envelope_counts_against_the_limit():
    """Many or long list ids leave less room for contacts."""
    many_lists = [f"list-{'x' * 30}-{i}" for i in range(20)]
    contacts = filling(LISTS, MAX_BODY_BYTES, 3)
    assert len(split(LISTS, contacts)) == 1
    result = split(many_lists, contacts)
    assert len(result) == 2
    assert all(len(request_body(c)) <= MAX_BODY_BYTES for c in result)


# --- split: properties ----------------------------------------------------------------------------------------

SMALL_CONTACTS, SMALL_BYTES = 5, 400


@settings(max_examples=300, deadline=None)
@given(
    pads=st.lists(st.integers(min_value=0, max_value=300), max_size=40),
    list_ids=st.lists(st.text(min_size=1, max_size=8), max_size=3),
)
def test_split_never_exceeds_the_limits_and_keeps_every_contact_once_in_order(pads, list_ids):
    contacts = [contact(i, pad) for i, pad in enumerate(pads)]
    with (
        mock.patch.object(chunks, "MAX_CONTACTS", SMALL_CONTACTS),
        mock.patch.object(chunks, "MAX_BODY_BYTES", SMALL_BYTES),
    ):
        result = split(list_ids, contacts)
    assert emails(result) == [c.email for c in contacts]
    for i, chunk in enumerate(result):
        assert chunk.list_ids == list_ids
        assert 1 <= len(chunk.contacts) <= SMALL_CONTACTS
        body = request_body(chunk)
        assert len(body) <= SMALL_BYTES or len(chunk.contacts) == 1  # a contact too big for any request
        assert sent_emails(chunk) == [c.email for c in chunk.contacts]
        if i + 1 < len(result):  # greedy: the next request's first contact did not fit this one
            grown = Chunk(list_ids, [*chunk.contacts, result[i + 1].contacts[0]])
            assert len(grown.contacts) > SMALL_CONTACTS or len(request_body(grown)) + SLACK > SMALL_BYTES


# --- request_body ---------------------------------------------------------------------------------------------


def test_request_body_is_json_with_the_lists_and_every_contact_once():
    contacts = [contact(i, i) for i in range(5)]
    body = request_body(Chunk(["a", "b"], contacts))
    parsed = json.loads(body)
    assert parsed == {"list_ids": ["a", "b"], "contacts": [json.loads(c.body) for c in contacts]}


def test_request_body_without_lists_or_contacts_is_still_json():
    assert json.loads(request_body(Chunk([], []))) == {"list_ids": [], "contacts": []}


def test_request_body_keeps_utf8_bodies_and_escapes_odd_list_ids():
    body = json.dumps({"email": "zoë@example.com", "first_name": "Zoë 🎉"}, ensure_ascii=False).encode()
    out = Outgoing("zoë@example.com", {}, [], body)
    parsed = json.loads(request_body(Chunk(['quote"d', "back\\slash"], [out])))
    assert parsed["list_ids"] == ['quote"d', "back\\slash"]
    assert parsed["contacts"] == [{"email": "zoë@example.com", "first_name": "Zoë 🎉"}]


# --- current_values: the state-based flush --------------------------------------------------------------------


def state(fields: dict | None, lifetime_value: object = 0) -> SimpleNamespace:
    return SimpleNamespace(fields=fields, lifetime_value=lifetime_value, consent=None)


def test_touched_fields_take_the_state_value_not_the_deliverys():
    stored = {"first_name": ["Newer", "2026-11-01T13:00:00+00:00"], "city": ["Oslo", "2026-11-01T12:00:00+00:00"]}
    assert current_values({"first_name": "Older"}, state(stored), "lifetime_value") == {"first_name": "Newer"}


def test_untouched_state_fields_are_not_sent():
    stored = {"first_name": ["Ann", "2026-11-01T13:00:00+00:00"], "city": ["Oslo", "2026-11-01T12:00:00+00:00"]}
    assert current_values({"city": "Bergen"}, state(stored), "lifetime_value") == {"city": "Oslo"}


def test_lifetime_value_is_the_stored_sum_as_a_decimal():
    values = current_values({"lifetime_value": 12.5}, state({}, Decimal("99.95")), "lifetime_value")
    assert values == {"lifetime_value": Decimal("99.95")}
    assert isinstance(values["lifetime_value"], Decimal)


def test_lifetime_value_uses_the_configured_name_and_wins_over_a_stored_field_of_that_name():
    stored = {"ltv": ["1", "2026-11-01T12:00:00+00:00"]}
    assert current_values({"ltv": 3.0}, state(stored, Decimal("42")), "ltv") == {"ltv": Decimal("42")}


def test_no_stored_lifetime_value_is_zero():
    assert current_values({"lifetime_value": 5.0}, state({}, None), "lifetime_value") == {"lifetime_value": Decimal(0)}


def test_a_field_missing_from_the_state_keeps_the_deliverys_value():
    stored = {"first_name": ["Ann", "2026-11-01T13:00:00+00:00"]}
    touched = {"first_name": "Old", "last_page_url": "https://example.com/replayed"}
    assert current_values(touched, state(stored), "lifetime_value") == {
        "first_name": "Ann",
        "last_page_url": "https://example.com/replayed",
    }


def test_a_state_without_fields_keeps_every_deliverys_value():
    assert current_values({"city": "Oslo"}, state(None), "lifetime_value") == {"city": "Oslo"}


def test_a_stored_none_value_is_sent_as_none():
    stored = {"city": [None, "2026-11-01T13:00:00+00:00"]}
    assert current_values({"city": "Oslo"}, state(stored), "lifetime_value") == {"city": None}


# --- lifetime_value_field -------------------------------------------------------------------------------------


def test_lifetime_value_field_follows_the_config_and_falls_back_on_an_invalid_one():
    assert lifetime_value_field(integration(config={"lifetime_value_field": "ltv"})) == "ltv"
    assert lifetime_value_field(integration(config=None)) == "lifetime_value"
    assert lifetime_value_field(integration(config={"trait_fields": "not an object"})) == "lifetime_value"


# --- serialize and unknown_fields (no field refresh: no client, no session) -----------------------------------


def test_serialize_writes_each_contact_once_with_custom_fields_by_id():
    d1, d2 = delivery(1), delivery(2)
    out = Outgoing(
        "Ann@Example.com", {"first_name": "Ann", "plan": "pro", "lifetime_value": Decimal("12.50")}, [d1, d2]
    )
    report = FlushReport()
    serialize(None, integration(field_ids={"plan": "e1_T", "LIFETIME_VALUE": "e2_N"}), None, [out], report)
    assert json.loads(out.body) == {
        "email": "ann@example.com",
        "first_name": "Ann",
        "custom_fields": {"e1_T": "pro", "e2_N": 12.5},
    }
    assert report.failed == 0


def test_serialize_fails_an_invalid_contact_alone_and_clears_its_old_body():
    good = Outgoing("good@example.com", {"first_name": "G"}, [delivery(1)])
    bad = Outgoing("not-an-email", {"first_name": "B"}, [delivery(2), delivery(3)], body=b'{"stale":true}')
    report = FlushReport()
    serialize(None, integration(), None, [good, bad], report)
    assert json.loads(good.body)["email"] == "good@example.com"
    assert bad.body == b""
    assert report.failed == 2
    assert {d.status for d in bad.deliveries} == {DeliveryStatus.FAILED}
    assert all(d.reason.startswith("invalid contact, not sent: ") for d in bad.deliveries)
    assert good.deliveries[0].status == DeliveryStatus.QUEUED


def test_serialize_without_refresh_fails_a_contact_whose_custom_field_has_no_id():
    out = Outgoing("a@example.com", {"plan": "pro"}, [delivery(1)])
    report = FlushReport()
    serialize(None, integration(field_ids={}), None, [out], report, refresh=False)
    assert out.body == b""
    assert out.deliveries[0].reason == "custom field plan could not be created in SendGrid"
    assert report.failed == 1


def test_unknown_fields_are_the_custom_names_without_an_id():
    out = Outgoing("a@example.com", {"first_name": "A", "city": "Oslo", "plan": "p", "Tier": "t", "new": 1}, [])
    assert unknown_fields(out, {"plan": "e1", "tier": "e2"}) == ["new"]
