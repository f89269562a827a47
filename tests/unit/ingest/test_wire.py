"""workers/ingest/wire.py: newline-delimited events as `publish` reads them, and the queue's contract."""

from __future__ import annotations

from workers.ingest.wire import (
    DEAD_EXCHANGE_NAME,
    DELIVERY_LIMIT,
    EXCHANGE_NAME,
    QUEUE_NAME,
    PublishReport,
    events_queue,
    parse_lines,
)


def parse(*lines: str) -> tuple[list[dict], PublishReport]:
    report = PublishReport()
    return list(parse_lines(lines, report)), report


def test_objects_are_yielded_in_order():
    events, report = parse('{"type":"identify","messageId":"a"}', '{"type":"track","messageId":"b"}')
    assert [e["messageId"] for e in events] == ["a", "b"]
    assert report.bad_lines == []


def test_blank_lines_are_skipped_without_a_report():
    events, report = parse("", "   ", '{"messageId":"a"}', "\t")
    assert len(events) == 1 and report.bad_lines == []


def test_lines_that_are_not_json_are_reported_by_number_and_column():
    events, report = parse('{"messageId":"a"}', '{"messageId":', "not json")
    assert [e["messageId"] for e in events] == ["a"]
    assert [n for n, _ in report.bad_lines] == [2, 3]
    assert report.bad_lines[0][1].startswith("not JSON (Expecting value at column 14)")
    assert report.bad_lines[1][1] == "not JSON (Expecting value at column 1)"


def test_json_that_is_not_an_object_is_reported_with_its_type():
    events, report = parse("[1, 2]", '"text"', "3", "null", '{"ok": true}')
    assert events == [{"ok": True}]
    assert report.bad_lines == [
        (1, "a JSON list, not an event object"),
        (2, "a JSON str, not an event object"),
        (3, "a JSON int, not an event object"),
        (4, "a JSON NoneType, not an event object"),
    ]


def test_the_queue_contract():
    assert (EXCHANGE_NAME, QUEUE_NAME) == ("datafly.events", "signal.sendgrid.events")
    assert events_queue.routing_key == "#" and events_queue.durable
    arguments = events_queue.queue_arguments
    assert arguments["x-queue-type"] == "quorum"
    assert arguments["x-delivery-limit"] == DELIVERY_LIMIT
    assert arguments["x-dead-letter-exchange"] == DEAD_EXCHANGE_NAME
    assert arguments["x-dead-letter-strategy"] == "at-least-once"
    assert arguments["x-overflow"] == "reject-publish"  # required by at-least-once dead-lettering
