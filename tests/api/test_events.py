"""POST /v1/events: one event or a batch, published with confirms into the queue; invalid bodies, size limit."""

from __future__ import annotations

import json

import pytest

from config.settings import load_settings
from tests.factories import event, identify
from tests.helpers.api import api_env, queued_messages
from workers.admin.blueprint import MAX_EVENTS_BODY

pytestmark = pytest.mark.integration

EVENTS = "/v1/events"


def test_one_event_is_in_the_queue_when_202_answers(api, clean_broker):
    sent = identify("ada@example.com", "u-1")
    answer = api.post(EVENTS, json=sent)
    assert answer.status_code == 202 and answer.json() == {"accepted": 1}

    [message] = queued_messages(clean_broker)
    assert json.loads(message.body) == sent
    assert message.properties["message_id"] == sent["messageId"]
    assert message.delivery_info["routing_key"] == "identify"
    assert message.content_type == "application/json"


def test_a_batch_is_published_in_order(api, clean_broker):
    batch = [identify("b@example.com", "u-2"), event("page", 1, userId="u-2")]
    batch.append(event("track", 2, event="Product Viewed"))
    answer = api.post(EVENTS, json={"batch": batch})
    assert answer.status_code == 202 and answer.json() == {"accepted": 3}
    assert [json.loads(m.body) for m in queued_messages(clean_broker)] == batch


def test_the_connection_is_reused_across_requests(api, clean_broker):
    for n in range(5):
        assert api.post(EVENTS, json=event("page", n)).status_code == 202
    assert len(queued_messages(clean_broker)) == 5


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ('{"messageId": "m1", "type": "page"', {"json": ["Invalid JSON body."]}),
        (b"\xff\xfe\x00", {"json": ["Invalid JSON body."]}),
        ('{"messageId": "m1", "type": "page", "n": NaN}', {"json": ["NaN is not valid JSON"]}),
        ("[" * 100_000, {"json": ["Invalid JSON body."]}),
        ("", {"json": ["Invalid JSON body."]}),
        ('[{"messageId": "m1", "type": "page"}]', {"json": {"_schema": ["Invalid input type."]}}),
        ('"page"', {"json": {"_schema": ["Invalid input type."]}}),
    ],
    ids=["truncated", "not-utf8", "nan", "deeply-nested", "empty", "array", "string"],
)
def test_a_body_that_is_not_an_event_object_is_400(api, clean_broker, data, errors):
    answer = api.post(EVENTS, data=data, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["errors"] == errors
    assert answer.json()["message"]
    assert queued_messages(clean_broker) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "page"}, "messageId"),
        ({"messageId": "", "type": "page"}, "messageId"),
        ({"messageId": 7, "type": "page"}, "messageId"),
        ({"messageId": "m" * 201, "type": "page"}, "messageId"),
        ({"messageId": "\u00e9" * 150, "type": "page"}, "messageId"),  # 300 bytes: over AMQP's 255
        ({"messageId": "a\x00b", "type": "page"}, "messageId"),
        ({"messageId": "m1"}, "type"),
        ({"messageId": "m1", "type": None}, "type"),
    ],
)
def test_an_event_without_a_usable_message_id_or_type_is_400(api, clean_broker, body, field):
    answer = api.post(EVENTS, json=body)
    assert answer.status_code == 400
    assert field in answer.json()["errors"]["json"]
    assert queued_messages(clean_broker) == []


def test_a_batch_with_invalid_events_publishes_nothing_and_names_each(api, clean_broker):
    batch = [event("page", 0), {"type": "page"}, "not an object", event("page", 1), {"messageId": "m", "type": ""}]
    answer = api.post(EVENTS, json={"batch": batch})
    assert answer.status_code == 400
    body = answer.json()
    assert body["message"] == "3 of 5 events are invalid; nothing was published"
    assert set(body["errors"]["json"]["batch"]) == {"1", "2", "4"}
    assert "messageId" in body["errors"]["json"]["batch"]["1"]
    assert "type" in body["errors"]["json"]["batch"]["4"]
    assert queued_messages(clean_broker) == []


@pytest.mark.parametrize(
    "body",
    [{"batch": []}, {"batch": [event("page", n) for n in range(501)]}, {"batch": {"a": 1}}, {"batch": [], "x": 1}],
    ids=["empty", "501-events", "not-a-list", "unknown-key"],
)
def test_a_malformed_batch_is_400(api, clean_broker, body):
    answer = api.post(EVENTS, json=body)
    assert answer.status_code == 400
    assert answer.json()["errors"]["json"]
    assert queued_messages(clean_broker) == []


def test_a_body_over_the_limit_is_413_json(api, clean_broker):
    padding = "x" * MAX_EVENTS_BODY
    answer = api.post(EVENTS, json={**event("page"), "properties": {"padding": padding}})
    assert answer.status_code == 413
    assert answer.json()["code"] == 413
    assert queued_messages(clean_broker) == []


def test_a_body_just_under_the_limit_is_accepted(api, clean_broker):
    body = {**event("page"), "properties": {"padding": ""}}
    body["properties"]["padding"] = "x" * (MAX_EVENTS_BODY - len(json.dumps(body)) - 10)
    assert api.post(EVENTS, json=body).status_code == 202
    assert len(queued_messages(clean_broker)) == 1


def test_an_unreachable_broker_is_503_without_its_password(serve, pg_url, sandbox):
    settings = load_settings(api_env(pg_url, sandbox.url, "amqp://guest:hunter2secret@127.0.0.1:1//"))
    api = serve(settings)
    answer = api.post(EVENTS, json=event("page"))
    assert answer.status_code == 503
    message = answer.json()["message"]
    assert "did not confirm" in message and "127.0.0.1:1" in message and "re-sending is safe" in message
    assert "hunter2secret" not in answer.text


def test_the_embedded_memory_broker_is_refused_with_503(serve, pg_url, sandbox):
    api = serve(load_settings(api_env(pg_url, sandbox.url, "memory://")))
    answer = api.post(EVENTS, json=event("page"))
    assert answer.status_code == 503
    assert "memory://" in answer.json()["message"]
