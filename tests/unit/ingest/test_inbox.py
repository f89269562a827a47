"""workers/ingest/inbox.py: one broker message -> one `events` row, never raising (decode, storable, refused)."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import EventStatus
from tests.unit.builders import NOW
from workers.ingest.inbox import (
    MAX_MESSAGE_BYTES,
    MAX_MESSAGE_ID,
    MAX_RAW_BODY,
    Incoming,
    decode,
    event_digest,
    refused,
    storable,
)


def row_for(body: bytes, message_id: str | None = None) -> dict:
    return decode(Incoming(body, message_id), NOW)


def sha(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def assert_rejected(row: dict, reason_start: str) -> None:
    assert row["status"] == EventStatus.REJECTED.value
    assert row["reason"].startswith(reason_start), row["reason"]
    assert row["processed_at"] == NOW
    assert "payload" not in row and "payload_json" not in row
    assert isinstance(row["raw_body"], str)


# --- an event object ------------------------------------------------------------------------------------------


def test_an_event_object_is_received_with_its_body_as_the_jsonb_text():
    body = b'{"messageId":"m-1","type":"identify","traits":{"email":"a@example.com"}}'
    row = row_for(body, "amqp-id")
    assert row["status"] == EventStatus.RECEIVED.value
    assert (row["message_id"], row["type"], row["received_at"], row["process_attempts"]) == ("m-1", "identify", NOW, 0)
    assert row["payload"] == json.loads(body)
    assert row["payload_json"] == body.decode()
    assert "raw_body" not in row and "reason" not in row


def test_the_type_is_cut_to_40_characters_and_kept_as_text():
    assert row_for(b'{"type":"' + b"t" * 100 + b'"}')["type"] == "t" * 40
    assert row_for(b'{"type":5}')["type"] == "5"
    assert row_for(b'{"messageId":"m"}')["type"] is None


# --- the message id -------------------------------------------------------------------------------------------


def test_the_bodys_messageid_wins_over_the_amqp_property():
    assert row_for(b'{"messageId":"body-id"}', "amqp-id")["message_id"] == "body-id"


@pytest.mark.parametrize("body", [b"{}", b'{"messageId":""}', b'{"messageId":"   "}', b'{"messageId":42}'])
def test_without_a_usable_messageid_the_amqp_property_is_used(body):
    assert row_for(body, "amqp-id")["message_id"] == "amqp-id"


def test_without_any_id_the_hash_of_the_body_is_the_id_so_a_redelivery_is_stored_once():
    body = b'{"type":"track"}'
    assert row_for(body)["message_id"] == sha(body)
    assert row_for(body)["message_id"] == row_for(body)["message_id"]
    assert row_for(b'{"type":"page"}')["message_id"] != sha(body)


def test_an_overlong_id_is_replaced_by_the_hash():
    body = json.dumps({"messageId": "x" * (MAX_MESSAGE_ID + 1)}).encode()
    assert row_for(body)["message_id"] == sha(body)
    exact = json.dumps({"messageId": "x" * MAX_MESSAGE_ID}).encode()
    assert row_for(exact)["message_id"] == "x" * MAX_MESSAGE_ID


def test_a_rejected_body_never_claims_the_amqp_id_it_is_keyed_by_its_hash():
    # Issue 21: stored under the producer's id, it made the corrected re-send a duplicate.
    assert row_for(b"garbage", "amqp-id")["message_id"] == sha(b"garbage")
    assert row_for(b"garbage")["message_id"] == sha(b"garbage")
    assert row_for(b"garbage")["digest"] == sha(b"garbage").removeprefix("sha256:")
    assert row_for(b'[{"messageId": "m1"}]', "m1")["message_id"] == sha(b'[{"messageId": "m1"}]')


def test_a_body_over_1_mib_is_rejected_with_its_size_and_not_kept():
    body = b'{"messageId": "big", "type": "track", "x": "' + b"a" * MAX_MESSAGE_BYTES + b'"}'
    row = row_for(body, "big")
    assert row["status"] == EventStatus.REJECTED.value and row["processed_at"] == NOW
    assert row["reason"] == f"body is {len(body):,} bytes, over the 1,048,576-byte limit (not kept)"
    assert row["raw_body"] is None and "payload" not in row and "payload_json" not in row
    assert row["message_id"] == sha(body)


def test_a_body_of_exactly_1_mib_is_an_event():
    head = b'{"messageId": "m", "type": "track", "x": "'
    body = head + b"a" * (MAX_MESSAGE_BYTES - len(head) - 2) + b'"}'
    assert len(body) == MAX_MESSAGE_BYTES
    assert row_for(body)["status"] == EventStatus.RECEIVED.value


def test_the_digest_leaves_sent_at_out_and_ignores_key_order():
    event = {"messageId": "m1", "type": "identify", "traits": {"email": "a@example.com", "first_name": "A"}}
    retry = {"sentAt": "2026-12-08T02:00:01Z", "traits": {"first_name": "A", "email": "a@example.com"},
             "type": "identify", "messageId": "m1"}  # fmt: skip
    other = {**event, "traits": {"email": "a@example.com", "first_name": "B"}}
    assert event_digest(event) == event_digest(retry) == row_for(json.dumps(retry).encode())["digest"]
    assert event_digest(other) != event_digest(event)
    assert len(event_digest(event)) == 64


def test_nul_in_an_id_is_replaced():
    assert row_for(b"{}", "a\x00b")["message_id"] == "a\ufffdb"


# --- bodies that are not events -------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"not json", b'{"messageId": "a"', b"{'single': 'quotes'}", b'{"a":1} trailing'])
def test_a_body_that_is_not_json_is_rejected_and_kept_readable(body):
    row = row_for(body)
    assert_rejected(row, "body is not JSON: ")
    assert row["raw_body"] == body.decode()


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_json_constants_are_not_json(constant):
    row = row_for(b'{"revenue":' + constant + b"}")
    assert_rejected(row, "body refused: ")
    assert "is not valid JSON" in row["reason"]


def test_a_body_that_is_not_utf8_is_rejected_with_the_byte():
    row = row_for(b'{"name":"\xff\xfe"}')
    assert_rejected(row, "body is not UTF-8 (invalid start byte at byte 9)")
    assert row["raw_body"] == '{"name":"\ufffd\ufffd"}'


@pytest.mark.parametrize(
    ("body", "kind"), [(b"[1,2]", "list"), (b'"text"', "str"), (b"3", "int"), (b"1.5", "float"), (b"true", "bool")]
)
def test_json_that_is_not_an_object_is_rejected_with_its_type(body, kind):
    row = row_for(body)
    assert_rejected(row, f"body is a JSON {kind}, not an event object")
    assert row["raw_body"] == body.decode()


def test_json_null_is_rejected():
    assert_rejected(row_for(b"null"), "body is a JSON NoneType, not an event object")


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000])
def test_a_body_nested_too_deeply_is_rejected_not_raised(body):
    row = row_for(body)
    assert_rejected(row, "body is nested too deeply to be an event")
    assert len(row["raw_body"]) == min(len(body), MAX_RAW_BODY)


def test_a_large_rejected_body_is_kept_to_64_kib_and_nul_replaced():
    body = b"\x00" + b"x" * (2 * MAX_RAW_BODY)
    row = row_for(body)
    assert_rejected(row, "body is not JSON")
    assert len(row["raw_body"]) == MAX_RAW_BODY
    assert row["raw_body"][0] == "\ufffd"


# --- what JSONB cannot hold: NUL and lone surrogates ----------------------------------------------------------


def test_escaped_nul_is_replaced_in_payload_and_text():
    row = row_for(b'{"messageId":"m","name":"a\\u0000b"}')
    assert row["status"] == EventStatus.RECEIVED.value
    assert row["payload"]["name"] == "a\ufffdb"
    assert json.loads(row["payload_json"]) == row["payload"]
    assert "\\u0000" not in row["payload_json"]


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\uDBFF", b"\\udc00", b"\\uDFFF"])
def test_a_lone_surrogate_is_replaced(escape):
    row = row_for(b'{"name":"x' + escape + b'y"}')
    assert row["payload"]["name"] == "x\ufffdy"
    assert json.loads(row["payload_json"]) == row["payload"]


def test_a_surrogate_pair_is_a_character_and_kept():
    row = row_for(b'{"name":"\\ud83d\\ude00"}')
    assert row["payload"]["name"] == "\U0001f600"
    assert json.loads(row["payload_json"])["name"] == "\U0001f600"


def test_reversed_surrogates_are_both_replaced():
    row = row_for(b'{"name":"\\ude00\\ud83d"}')
    assert row["payload"]["name"] == "\ufffd\ufffd"


@pytest.mark.parametrize("literal", ["C:\\u0000dir", "regex \\ud800 in text"])
def test_an_escaped_backslash_before_u0000_is_text_and_kept(literal):
    row = row_for(json.dumps({"messageId": "m", "note": literal}).encode())
    assert row["payload"]["note"] == literal


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.text(max_size=20) | st.integers() | st.booleans(), max_size=5))
def test_any_event_object_is_received_and_its_jsonb_text_is_its_payload(payload):
    body = json.dumps({"messageId": "m", **payload}).encode()
    row = row_for(body)
    assert row["status"] == EventStatus.RECEIVED.value
    assert json.loads(row["payload_json"]) == row["payload"]
    assert "\x00" not in row["payload_json"] and "\x00" not in json.dumps(row["payload"], ensure_ascii=False)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_decode_never_raises_and_every_row_is_one_of_two_shapes(body):
    row = row_for(body)
    assert row["message_id"] and len(row["message_id"]) <= len("sha256:") + 64
    if row["status"] == EventStatus.RECEIVED.value:
        assert isinstance(row["payload"], dict) and "raw_body" not in row
    else:
        assert row["status"] == EventStatus.REJECTED.value and row["reason"] and "payload" not in row


# --- storable and refused -------------------------------------------------------------------------------------


def test_storable_keeps_a_clean_payload_as_is():
    payload = {"a": "b", "n": [1, 2.5, None]}
    same, text = storable(payload)
    assert same is payload
    assert json.loads(text) == payload


def test_storable_refuses_nan():
    with pytest.raises(ValueError):
        storable({"x": float("nan")})


def test_refused_keeps_the_body_as_raw_text_and_the_reason():
    row = row_for(b'{"messageId":"m","type":"track"}')
    kept = refused(row, "the database refused this event (DataError): value too long", NOW)
    assert kept == {
        "message_id": "sha256:" + row["digest"],  # the producer's id stays free for a corrected re-send
        "type": None,
        "raw_body": '{"messageId":"m","type":"track"}',
        "status": EventStatus.REJECTED.value,
        "reason": "the database refused this event (DataError): value too long",
        "processed_at": NOW,
        "digest": row["digest"],
    }


def test_refused_cuts_the_raw_body():
    row = {"message_id": "m", "payload_json": "y" * (MAX_RAW_BODY + 5)}
    assert len(refused(row, "r", NOW)["raw_body"]) == MAX_RAW_BODY
