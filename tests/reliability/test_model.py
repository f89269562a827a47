"""The reference model of issue #13 on its own (tests/reliability/model.py): fast, pure, no services.

Like the model, these tests import nothing from the product.
"""

from __future__ import annotations

import ast
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.reliability.model import (
    FUTURE,
    FUTURE_SHARE,
    Difference,
    StreamError,
    consent_of,
    differences,
    expect,
    generate,
    moment,
    unique_events,
)

EMAIL = "ann@example.com"


def at(minute: int) -> str:
    return f"2026-11-0{1 + minute // 1440}T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z"


def identify(minute: int, first_name: str = "Ann", consent: bool | None = None, **ids) -> dict:
    event = {"messageId": f"i-{minute}", "type": "identify", "timestamp": at(minute), "userId": "u-1",
             "traits": {"email": EMAIL, "first_name": first_name}, **ids}  # fmt: skip
    return event | ({"context": {"consent": {"marketing": consent}}} if consent is not None else {})


def page(minute: int, url: str, **identity) -> dict:
    return {"messageId": f"p-{minute}", "type": "page", "timestamp": at(minute), "properties": {"url": url}, **identity}


def order(minute: int, order_id: str, revenue: str, message_id: str | None = None, **identity) -> dict:
    return {"messageId": message_id or f"o-{minute}", "type": "track", "event": "Order Completed",
            "timestamp": at(minute), "properties": {"order_id": order_id, "revenue": revenue}, **identity}  # fmt: skip


BY_EMAIL = {"context": {"traits": {"email": EMAIL}}}


def test_the_newest_event_wins_each_field_whatever_the_order_of_arrival():
    events = [identify(1, "Old"), identify(9, "New"), page(3, "/a", userId="u-1"), page(7, "/b", **BY_EMAIL)]
    for seed in range(20):
        random.Random(seed).shuffle(events)
        contact = expect(events).contacts[EMAIL]
        assert contact == {"first_name": "New", "signal_user_id": "u-1", "last_page_url": "/b"}


def test_lifetime_value_sums_distinct_order_ids_exactly_and_last_purchase_is_the_newest_orders_date():
    events = [
        identify(0),
        order(10, "A", "0.10", userId="u-1"),
        order(10, "A", "0.10", message_id="again", **BY_EMAIL),  # the same order under a new messageId
        order(2000, "B", "0.20", userId="u-1"),
        order(2000, "B", "0.20", userId="u-1"),  # the very same message twice
    ]
    contact = expect(events).contacts[EMAIL]
    assert contact["lifetime_value"] == Decimal("0.30")  # exact: 0.1 + 0.2 as floats would not be
    assert contact["last_purchase_at"] == "2026-11-02"
    assert expect(events).orders == 2 and expect(events).unique == 4


def test_a_visitor_never_identified_stays_held_and_a_later_identify_resolves_earlier_browsing():
    events = [
        page(1, "/seen", anonymousId="a-1"),
        page(2, "/never", anonymousId="a-2"),  # no identify carries a-2
        order(3, "X", "5.00", userId="u-9"),  # nor u-9
        identify(5, anonymousId="a-1"),
    ]
    expected = expect(events)
    assert expected.held == 2
    assert expected.contacts[EMAIL]["last_page_url"] == "/seen"
    assert "lifetime_value" not in expected.contacts[EMAIL]
    assert expected.orders == 0


def test_a_denied_identify_links_nothing_and_sets_nothing():
    events = [identify(1, "Granted", anonymousId="a-1"), identify(5, "Denied", consent=False, anonymousId="a-2"),
              identify(9, "Regranted", consent=True), page(3, "/a", anonymousId="a-2")]  # fmt: skip
    expected = expect(events)
    assert expected.contacts[EMAIL]["first_name"] == "Regranted"
    assert expected.held == 1  # a-2 is carried by the denied identify only
    assert EMAIL not in expected.withdrawn and EMAIL in expected.listed


def test_final_consent_is_the_newest_identify_that_carries_one():
    withdrawn = [identify(1, consent=True), identify(5, consent=False), identify(9), page(7, "/a", **BY_EMAIL)]
    expected = expect(withdrawn)
    assert expected.withdrawn == {EMAIL}
    assert EMAIL not in expected.contacts and EMAIL not in expected.listed  # not compared, suppressed
    regranted = [identify(1, consent=False), identify(5, consent=True)]
    assert not expect(regranted).withdrawn and EMAIL in expect(regranted).contacts


def test_a_contact_is_listed_only_when_one_of_its_delivered_events_is_an_identify():
    expected = expect([page(1, "/guest", **BY_EMAIL)])
    assert EMAIL in expected.contacts and EMAIL not in expected.listed


def test_a_repeated_message_id_counts_its_first_copy_only():
    first, later = page(1, "/first", **BY_EMAIL), page(1, "/later", **BY_EMAIL)
    assert expect([first, later]).contacts[EMAIL]["last_page_url"] == "/first"


def test_the_model_refuses_a_stream_that_breaks_its_promises():
    with pytest.raises(StreamError, match="ambiguous"):
        expect([identify(1, anonymousId="a-1"), identify(2, anonymousId="a-1") | {"traits": {"email": "b@x.io"}}])
    with pytest.raises(StreamError, match="both at"):
        expect([page(1, "/a", **BY_EMAIL), page(1, "/b", **BY_EMAIL) | {"messageId": "other"}])
    with pytest.raises(StreamError, match="revenues"):
        expect([order(1, "A", "1.00", **BY_EMAIL), order(2, "A", "2.00", **BY_EMAIL)])


ARRIVAL = datetime(2026, 12, 8, 3, 30, tzinfo=UTC)  # every event arrives at or after it


def ahead(event: dict, days: int = 0) -> dict:
    """The event dated in the year 2999 (more than the 24 h bound after any arrival)."""
    return event | {"timestamp": (FUTURE + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_an_event_dated_far_ahead_of_its_arrival_counts_at_its_arrival():
    events = [identify(1, "Ahead", consent=True) | {"messageId": "ahead"}, identify(5, "Present", consent=False),
              order(9, "A", "1.00", userId="u-1"), order(20, "B", "2.00", userId="u-1")]  # fmt: skip
    expected = expect([ahead(events[0]), *events[1:3], ahead(events[3], days=40)], ARRIVAL)
    # Its arrival is after every other event: the grant and the name win, the order is dated on arrival.
    assert expected.withdrawn == set() and expected.clamped == 2
    contact = {"first_name": "Ahead", "signal_user_id": "u-1", "last_purchase_at": "2026-12-08"}
    assert expected.contacts[EMAIL] == contact | {"lifetime_value": Decimal("3.00")}
    assert expect(events, ARRIVAL).withdrawn == {EMAIL} and expect(events, ARRIVAL).clamped == 0


def test_the_model_refuses_what_only_arrival_order_could_decide():
    with pytest.raises(StreamError, match="both at"):  # two dated ahead, one field: the later arrival wins
        expect([ahead(identify(1, "One")), ahead(identify(2, "Two"), days=1)], ARRIVAL)
    with pytest.raises(StreamError, match="within the bound"):  # clamped or not, by when it arrives
        expect([identify(1) | {"timestamp": "2026-12-08T20:00:00Z"}], ARRIVAL)
    assert expect([ahead(identify(1, "One")), ahead(page(2, "/a", **BY_EMAIL))], ARRIVAL).clamped == 2


def test_differences_name_every_way_the_observed_state_departs_from_the_model():
    events = [
        identify(0),
        page(1, "/old", userId="u-1"),
        page(2, "/new", userId="u-1"),
        order(3, "A", "1.5", **BY_EMAIL),
    ]
    other = {**identify(4), "userId": "u-2", "traits": {"email": "bob@example.com", "first_name": "Bob"}}
    events.append(other | {"context": {"consent": {"marketing": False}}})
    expected = expect(events)
    right = {EMAIL: dict(expected.contacts[EMAIL])}
    assert differences(expected, right, {EMAIL}, {"bob@example.com"}) == []

    wrong = {EMAIL: right[EMAIL] | {"last_page_url": "/old", "lifetime_value": Decimal("1.49"), "last_product_id": "P"}}
    del wrong[EMAIL]["first_name"]
    wrong["eve@example.com"] = {}
    found = differences(expected, wrong, set(), {EMAIL})
    assert {d.kind for d in found} == {
        "last_page_url:stale", "lifetime_value:too_low", "last_product_id:unexpected", "first_name:missing",
        "contact:unexpected", "list:missing", "suppression:missing", "suppression:unexpected",
    }  # fmt: skip
    assert differences(expected, {}, {EMAIL}, {"bob@example.com"}) == [
        Difference(EMAIL, "contact:missing", expected.contacts[EMAIL], None)
    ]


@pytest.fixture(scope="module")
def stream():
    return generate(5_000, 13)


def owners(stream) -> dict[str, int]:
    """Every email, userId and anonymousId of the stream -> the person it belongs to."""
    found = {}
    for person in stream.people:
        for key in (person.email, person.user_id, *person.anonymous_ids):
            assert found.setdefault(key, person.index) == person.index
    return found


def owner(found: dict[str, int], event: dict) -> int:
    if event["type"] == "identify":
        return found[event["traits"]["email"]]
    return found[event.get("userId") or event.get("anonymousId") or event["context"]["traits"]["email"]]


def test_the_stream_is_seeded_sized_and_shaped_as_promised(stream):
    assert [e["messageId"] for e in generate(5_000, 13).events] == [e["messageId"] for e in stream.events]
    assert len(stream.events) == 5_000 and len(stream.people) == 500
    expected = expect(stream.events)  # no ambiguous identity, no ties: expect would raise
    assert len(expected.contacts) > 0.9 * len(stream.people)
    assert expected.held > 0 and expected.withdrawn and stream.duplicates and stream.resent_orders
    assert {p.kind for p in stream.people} == {"identified", "consent", "never_identified", "guest"}
    assert {p.pattern for p in stream.people} == {"held_release", "adjacent", "burst", "scattered"}
    assert {consent_of(e) for e in stream.events} == {None, True, False}
    assert any(p.consents[-2:] == (False, True) for p in stream.people)  # withdrawn (or denied), then granted


def test_every_person_has_distinct_timestamps_and_browses_anonymously_before_identifying(stream):
    found = owners(stream)
    by_person: dict[int, list[dict]] = {}
    for event in unique_events(stream.events):
        by_person.setdefault(owner(found, event), []).append(event)
    for events in by_person.values():
        stamps = [e["timestamp"] for e in events if e.get("event") != "Order Completed"]
        orders = {(e["properties"]["order_id"], e["timestamp"]) for e in events if e.get("event") == "Order Completed"}
        stamps += [stamp for _, stamp in orders]  # a re-sent order keeps its order's timestamp: counted once
        assert len(stamps) == len(set(stamps))
        identifies = [moment(e) for e in events if e["type"] == "identify"]
        anonymous = [moment(e) for e in events if not set(e) & {"userId", "context"}]
        if identifies and anonymous:
            assert min(anonymous) < min(identifies)


def test_one_event_each_of_a_few_people_is_dated_far_ahead_and_every_other_in_the_past(stream):
    """The product takes an event dated more than SIGNAL_MAX_CLOCK_SKEW_HOURS (24 by default) after its arrival
    at its arrival time. FUTURE_SHARE of the people have one such event each (an identify, a consent change,
    an order), never copied; every other event is dated in the past of any arrival (all arrive after now)."""
    now = datetime.now(UTC)
    dated_ahead = [e for e in stream.events if moment(e) - now > timedelta(hours=24)]
    assert max(moment(e) for e in stream.events if e not in dated_ahead) < now
    assert all(moment(e) >= FUTURE for e in dated_ahead) and len(unique_events(dated_ahead)) == len(dated_ahead)
    per_person = Counter(owner(owners(stream), e) for e in dated_ahead)
    assert set(per_person.values()) == {1} and set(per_person) == {p.index for p in stream.people if p.ahead}
    assert len(per_person) == round(FUTURE_SHARE * len(stream.people)) == 20  # 4% of 500 people
    assert Counter(p.ahead for p in stream.people if p.ahead) == {"identify": 8, "order": 7, "consent": 5}
    assert expect(stream.events).clamped == len(dated_ahead)


def test_publish_order_is_not_timestamp_order_and_held_visitors_mostly_come_before_their_identify(stream):
    stamps = [moment(e) for e in stream.events]
    assert sum(a > b for a, b in zip(stamps, stamps[1:], strict=False)) > len(stamps) / 3
    found, position = owners(stream), {}
    for index, event in enumerate(stream.events):
        position.setdefault(event["messageId"], index)  # the first copy is the one that counts
    release = [p for p in stream.people if p.pattern == "held_release"]
    early = 0
    for person in release:
        mine = [e for e in stream.events if owner(found, e) == person.index]
        first = min((e for e in mine if e["type"] == "identify"), key=moment)
        anonymous = [e for e in mine if moment(e) < moment(first)]
        early += all(position[e["messageId"]] < position[first["messageId"]] for e in anonymous)
    assert early > 0.8 * len(release)


def test_the_model_imports_nothing_from_the_product():
    for path in (Path(__file__).with_name("model.py"), Path(__file__)):
        tree = ast.parse(path.read_text())
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        roots = {name.split(".")[0] for name in names}
        assert not roots & {"workers", "mapping", "models", "sandbox"}, path
        assert {name for name in names if name.startswith("tests.")} <= {"tests.reliability.model"}, path
