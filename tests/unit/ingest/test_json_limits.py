"""workers/ingest/json_limits.py: the number limits, the same at each door (ingest's decode, POST /v1/events'
parse_events, `publish`'s parse_lines), and what the pipeline stores stays readable by PostgreSQL's loader."""

from __future__ import annotations

import json

import pytest

from models import EventStatus
from tests.unit.builders import NOW
from workers.ingest import json_limits
from workers.ingest.inbox import Incoming, decode
from workers.ingest.wire import PublishReport, parse_lines
from workers.services.intake import InvalidEvents, parse_events

REFUSED = [
    ("1e309", "number 1e309 is out of range"),
    ("-1e309", "number -1e309 is out of range"),
    ("0.1e99999", "number 0.1e99999 is out of range"),
    ("1.8e308", "number 1.8e308 is out of range"),
    ("1e-400", "number 1e-400 is too small"),
    ("-2.5E-99999", "number -2.5E-99999 is too small"),
    ("NaN", "NaN is not valid JSON"),
    ("Infinity", "Infinity is not valid JSON"),
    ("-Infinity", "-Infinity is not valid JSON"),
    ("7" * 5000, "integer 777777777777...77777777 (5000 characters) has 5000 digits (at most 40)"),
    ("-" + "1" * 41, "has 41 digits (at most 40)"),
    ("0." + "1" * 120, "is too long (at most 100 characters)"),
]
ACCEPTED = [
    ("0", 0),
    ("-17", -17),
    ("19.99", 19.99),
    ("-0.0", -0.0),
    ("0e99999", 0.0),  # zero whatever its exponent
    ("1.7976931348623157e308", 1.7976931348623157e308),
    ("5e-324", 5e-324),
    ("2.5E+10", 2.5e10),
    ("18446744073709551615", 2**64 - 1),
    ("9" * 40, int("9" * 40)),  # big but sane
    ("-" + "9" * 40, -int("9" * 40)),
]


def body(number: str) -> bytes:
    head = '{"messageId":"m-1","type":"track","event":"Order Completed","userId":"u1","properties":{"revenue":'
    return f"{head}{number}}}}}".encode()


@pytest.mark.parametrize(("number", "reason"), REFUSED, ids=[n[:20] for n, _ in REFUSED])
def test_ingest_refuses_a_number_beyond_the_limits_with_the_reason(number, reason):
    row = decode(Incoming(body(number), "m-1"), NOW)
    assert row["status"] == EventStatus.REJECTED.value
    assert row["reason"].startswith("body refused: ") and reason in row["reason"], row["reason"]
    assert len(row["reason"]) < 200  # one readable line, never the 5,000 digits
    assert "payload" not in row and row["raw_body"]


@pytest.mark.parametrize(("number", "reason"), REFUSED, ids=[n[:20] for n, _ in REFUSED])
def test_post_events_and_publish_refuse_it_with_the_same_words(number, reason):
    with pytest.raises(InvalidEvents) as refused:
        parse_events(body(number))
    assert reason in str(refused.value) and refused.value.errors == {"json": [str(refused.value).split(": ", 1)[1]]}
    batch = b'{"batch":[' + body(number) + b"]}"
    with pytest.raises(InvalidEvents, match="the body is refused"):
        parse_events(batch)
    report = PublishReport()
    assert list(parse_lines([body(number).decode()], report)) == []
    assert len(report.bad_lines) == 1 and reason in report.bad_lines[0][1]


@pytest.mark.parametrize(("number", "value"), ACCEPTED, ids=[n[:20] for n, _ in ACCEPTED])
def test_normal_numbers_pass_every_door_unchanged(number, value):
    row = decode(Incoming(body(number), "m-1"), NOW)
    assert row["status"] == EventStatus.RECEIVED.value
    assert row["payload"]["properties"]["revenue"] == value
    assert parse_events(body(number))[0]["properties"]["revenue"] == value
    assert list(parse_lines([body(number).decode()], PublishReport()))[0]["properties"]["revenue"] == value


@pytest.mark.parametrize(("number", "value"), ACCEPTED, ids=[n[:20] for n, _ in ACCEPTED])
def test_what_passes_is_readable_back_as_postgresql_writes_it(number, value):
    """PostgreSQL keeps a JSON number exactly and writes it without an exponent (1.7e308 -> 309 digits);
    psycopg reads JSONB with json.loads, whose integers stop at 4,300 digits."""
    from decimal import Decimal

    written = format(Decimal(number), "f")
    assert json.loads(written) == pytest.approx(value, rel=1e-15)


def test_the_limits_hold_anywhere_in_the_body():
    deep = b'{"messageId":"m","type":"identify","traits":{"a":[1,2,{"b":[3,1e999]}]}}'
    with pytest.raises(json_limits.NumberRefused, match="1e999 is out of range"):
        json_limits.loads(deep)
    assert json_limits.loads(b'{"a":[1,2.5,{"b":[3,-4e-5]}]}') == {"a": [1, 2.5, {"b": [3, -4e-5]}]}


def test_bytes_in_any_json_encoding_and_text_decode_alike():
    text = '{"n":1e2,"s":"\u00e9"}'
    for data in (text, text.encode(), text.encode("utf-16")):
        assert json_limits.loads(data) == {"n": 100.0, "s": "\u00e9"}
