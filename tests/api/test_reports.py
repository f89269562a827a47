"""GET /v1/admin/deliveries (filters, pagination), GET /v1/admin/stats, POST /v1/admin/deliveries/replay."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from models import Delivery, DeliveryStatus

pytestmark = pytest.mark.integration

DELIVERIES = "/v1/admin/deliveries"
REPLAY = "/v1/admin/deliveries/replay"


def all_pages(api, page_size: int, **filters) -> list[dict]:
    items, page = [], 1
    while True:
        answer = api.get(DELIVERIES, params={**filters, "page": page, "page_size": page_size})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["page"], body["page_size"]) == (page, page_size)
        assert len(body["items"]) <= page_size
        items += body["items"]
        if not body["has_more"]:
            return items
        assert len(body["items"]) == page_size
        page += 1


def test_deliveries_filters(api, work):
    first, second = work["first"], work["second"]
    everything = api.get(DELIVERIES).json()
    assert len(everything["items"]) == 10 and not everything["has_more"]
    assert {"message_id", "email", "status", "status_code", "attempts", "error", "time"} <= set(everything["items"][0])

    failed = api.get(DELIVERIES, params={"status": "failed"}).json()["items"]
    assert len(failed) == 3
    assert {(d["integration_id"], d["event_type"], d["error"]) for d in failed} == {
        (first, "identify", "SendGrid said no")
    }
    assert {d["integration_id"] for d in api.get(DELIVERIES, params={"integration_id": second}).json()["items"]} == {
        second
    }
    pages = api.get(DELIVERIES, params={"event_type": "page", "integration_id": first}).json()["items"]
    assert sorted(d["message_id"] for d in pages) == sorted(e["messageId"] for e in work["events"][3:])
    assert api.get(DELIVERIES, params={"status": "succeeded"}).json()["items"] == []
    assert api.get(DELIVERIES, params={"integration_id": 999999}).json()["items"] == []


@pytest.mark.parametrize("page_size", [1, 3, 10, 500])
def test_deliveries_pages_cover_every_delivery_once(api, work, page_size):
    items = all_pages(api, page_size)
    assert len(items) == 10 and len({d["id"] for d in items}) == 10
    times = [d["time"] for d in items]
    assert times == sorted(times, reverse=True)  # newest first
    beyond = api.get(DELIVERIES, params={"page": 100, "page_size": page_size}).json()
    assert beyond["items"] == [] and beyond["has_more"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"page": 0}, "page"),
        ({"page": "two"}, "page"),
        ({"page_size": 501}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"integration_id": "abc"}, "integration_id"),
        ({"integration_id": 2**70}, "integration_id"),
        ({"event_type": "a\x00b"}, "event_type"),
    ],
)
def test_deliveries_rejects_bad_filters_field_by_field(api, params, field):
    answer = api.get(DELIVERIES, params=params)
    assert answer.status_code == 400
    assert field in answer.json()["errors"]["query"]


def reject_one(db) -> str:
    """A body that is not JSON: processing rejects it, with the reason."""
    from workers.ingest.inbox import Incoming, store_events
    from workers.processing.process import process_events

    with db.begin() as session:
        ids = store_events(session, [Incoming(b"{not json", message_id="m-broken")])
    process_events(db, ids)
    return "sha256:" + hashlib.sha256(b"{not json").hexdigest()  # a rejected body never claims the producer's id


def cursor_pages(api, page_size: int, **filters) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {**filters, "page_size": page_size, **({"cursor": cursor} if cursor else {})}
        body = api.get(DELIVERIES, params=params).json()
        items += body["items"]
        assert body["has_more"] is (body["next_cursor"] is not None)
        if not body["next_cursor"]:
            return items
        cursor = body["next_cursor"]


@pytest.mark.parametrize("page_size", [1, 4, 11])
def test_cursor_pages_are_the_console_timeline_with_rejected_events(api, db, work, page_size):
    broken = reject_one(db)
    by_cursor = cursor_pages(api, page_size)
    assert len(by_cursor) == 11 and len({(d["source"], d["id"]) for d in by_cursor}) == 11
    assert by_cursor == all_pages(api, page_size)  # page and cursor read the same order
    rejected = [d for d in by_cursor if d["status"] == "rejected"]
    assert [(d["source"], d["message_id"], d["integration_id"]) for d in rejected] == [("event", broken, None)]
    assert rejected[0]["error"].startswith("body is not JSON")
    assert by_cursor[0]["message_id"] == broken  # decided last: newest first
    assert api.get(DELIVERIES, params={"status": "rejected"}).json()["items"] == rejected


def test_search_and_time_range(api, db, work):
    first = work["events"][0]["messageId"]
    found = api.get(DELIVERIES, params={"q": first}).json()["items"]
    assert {d["message_id"] for d in found} == {first} and len(found) == 2  # one per integration
    assert {d["email"] for d in api.get(DELIVERIES, params={"q": "P1@"}).json()["items"]} == {"p1@example.com"}
    named = api.get(DELIVERIES, params={"q": "p2@example.com", "integration_id": work["second"]}).json()["items"]
    assert [(d["integration"], d["email"]) for d in named] == [("SendGrid EU team", "p2@example.com")]
    every = api.get(DELIVERIES).json()["items"]
    middle = sorted(d["time"] for d in every)[5]
    since = api.get(DELIVERIES, params={"since": middle}).json()["items"]
    until = api.get(DELIVERIES, params={"until": middle}).json()["items"]
    assert len(since) + len(until) == 10 and all(d["time"] >= middle for d in since)
    assert api.get(DELIVERIES, params={"until": "2000-01-01T00:00:00"}).json()["items"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [({"cursor": "not-a-cursor"}, "cursor"), ({"page": 202, "page_size": 500}, "page"), ({"since": "soon"}, "since")],
)
def test_bad_cursor_depth_and_time_are_refused(api, params, field):
    answer = api.get(DELIVERIES, params=params)
    assert answer.status_code == 400
    assert field in answer.json()["errors"]["query"]


def test_the_keyset_parameters_are_documented(api):
    document = api.get("/openapi.json", token=None).json()
    parameters = {p["name"] for p in document["paths"][DELIVERIES]["get"]["parameters"]}
    names = {"status", "integration_id", "event_type", "q", "since", "until", "cursor", "page", "page_size"}
    assert names <= parameters
    page = document["components"]["schemas"]["DeliveryPage"]["properties"]
    assert "next_cursor" in page


def test_stats_count_by_status(api, work):
    answer = api.get("/v1/admin/stats")
    assert answer.status_code == 200
    counts = answer.json()
    assert counts["events"]["processed"] == 5
    assert counts["deliveries"]["failed"] == 3
    assert counts["deliveries"]["queued"] == 7
    assert set(counts["deliveries"]) == {s.value for s in DeliveryStatus}


@pytest.fixture
def flush_triggers(monkeypatch) -> list[int]:
    from workers import tasks

    triggered: list[int] = []
    monkeypatch.setattr(tasks.flush_integration_task, "delay", triggered.append)
    return triggered


def statuses(db) -> dict[str, int]:
    with db() as session:
        rows = session.scalars(select(Delivery.status)).all()
    return {s.value: rows.count(s) for s in set(rows)}


def test_replay_dry_run_counts_and_changes_nothing(api, db, work, flush_triggers):
    answer = api.post(REPLAY, json={"dry_run": True})
    assert answer.status_code == 200
    assert answer.json() == {"matched": 3, "requeued": 0, "dry_run": True}
    assert statuses(db) == {"failed": 3, "queued": 7}
    assert flush_triggers == []


def test_replay_requeues_failed_deliveries_and_triggers_a_flush(api, db, work, flush_triggers):
    one = work["events"][0]["messageId"]
    answer = api.post(REPLAY, json={"message_ids": [one], "integration_id": work["first"]})
    assert answer.json() == {"matched": 1, "requeued": 1, "dry_run": False}
    assert statuses(db) == {"failed": 2, "queued": 8}
    assert flush_triggers == [work["first"]]

    answer = api.post(REPLAY, json={"status": "failed", "event_type": "identify", "remap": True})
    assert answer.status_code == 200 and answer.json()["requeued"] == 2
    assert statuses(db) == {"queued": 10}
    replayed = [d for d in api.get(DELIVERIES).json()["items"] if d["replays"]]
    assert len(replayed) == 3


def test_replay_with_a_time_window(api, db, work, flush_triggers):
    assert api.post(REPLAY, json={"until": "2000-01-01T00:00:00Z"}).json()["matched"] == 0
    assert api.post(REPLAY, json={"since": "2000-01-01T00:00:00", "dry_run": True}).json()["matched"] == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "queued"}, "status"),
        ({"status": None}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"message_ids": "m1"}, "message_ids"),
        ({"message_ids": [""]}, "message_ids"),
        ({"integration_id": "one"}, "integration_id"),
        ({"dry_run": "perhaps"}, "dry_run"),
        ({"limit": 5}, "limit"),
    ],
)
def test_replay_rejects_bad_bodies_field_by_field(api, body, field):
    answer = api.post(REPLAY, json=body)
    assert answer.status_code == 400
    assert field in answer.json()["errors"]["json"]
