"""Property test: random and hostile events never break the mapping.

Wrong types everywhere, huge strings, deep nesting, non-object payloads, lone surrogates, NaN/Infinity and
missing ids all end as mapped, skipped or rejected with a reason; nothing raises, every string the worker
stores is valid UTF-8, and every mapped event yields a JSON-serialisable contact within SendGrid's limits.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from mapping import (
    CUSTOM_TEXT_LIMIT,
    EMAIL_MAX_LENGTH,
    RESERVED_LIMITS,
    MappedEvent,
    MappingConfig,
    contact_for_sendgrid,
    map_event,
)

RECEIVED_AT = datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
CONFIG = MappingConfig(
    trait_fields={"plan": "plan", "ltv": "ltv", "birthday": "birthday", "company.name": "company_name"},
    field_types={"ltv": "Number", "birthday": "Date"},
)
FIELD_IDS = {name: f"e{i}_X" for i, name in enumerate(CONFIG.required_fields())}

# Text that includes lone surrogates, NUL and every other category.
hostile_text = st.text(st.characters(exclude_categories=()), max_size=30)
huge_text = st.integers(300, 100_000).map(lambda n: "x" * n)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
    huge_text,
    st.sampled_from(["19.90", " 5 ", "NaN", "Infinity", "-0", "1e999", "", "   ", "true", "null"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=12,
)


def _nest(depth: int) -> object:
    value: object = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


anything = json_values
# Deeply nested values are built inside the test (from a depth and a place): Hypothesis' own reporting
# recurses into arguments and would fail on them before the mapping is even called.
DEEP_PLACES = (
    (),
    ("traits",),
    ("traits", "plan"),
    ("traits", "company"),
    ("traits", "email"),
    ("properties",),
    ("properties", "revenue"),
    ("context", "consent"),
    ("integrations", "SendGrid"),
)


def mostly(real: st.SearchStrategy, weight: int = 3) -> st.SearchStrategy:
    """Realistic values most of the time, anything at all otherwise (so deep paths get reached)."""
    # one_of() does not weight repeated branches, so pick the branch from a number first.
    return st.integers(0, weight).flatmap(lambda pick: real if pick else anything)


emails = mostly(
    st.one_of(
        st.sampled_from(["Ann@Example.com", " bob@example.org ", "foo", "a@b", "x@localhost", "@", ""]),
        st.emails().map(str),
        huge_text.map(lambda s: s + "@example.com"),
    )
)
timestamps = mostly(
    st.one_of(
        st.datetimes(timezones=st.timezones() | st.none()).map(lambda d: d.isoformat()),
        st.sampled_from(["2024-05-01T21:15:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "now"]),
    )
)
ids = mostly(st.one_of(st.text(max_size=20), st.integers(), huge_text))
texts = mostly(st.one_of(hostile_text, huge_text, st.sampled_from(["Ann", "https://shop.example.com/p?q=1"])))
numbers = mostly(st.one_of(st.integers(), st.floats(), st.sampled_from(["19.90", " 5 ", "1e3", "abc", "NaN"])))
traits = mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "email": emails,
            "first_name": texts,
            "lastName": texts,
            "phone": mostly(st.one_of(texts, st.integers())),
            "address": mostly(st.dictionaries(st.sampled_from(["street", "city", "state", "postal_code"]), texts)),
            "plan": anything,
            "ltv": numbers,
            "birthday": mostly(st.one_of(timestamps, st.integers())),
            "company": mostly(st.fixed_dictionaries({"name": anything})),
        },
    ),
    8,
)
properties = mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "url": texts,
            "product_id": ids,
            "sku": ids,
            "order_id": ids,
            "revenue": numbers,
            "total": numbers,
            "currency": mostly(st.sampled_from(["USD", "eur", "dollars", ""])),
        },
    ),
    8,
)
context = mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "traits": mostly(st.fixed_dictionaries({"email": emails}), 8),
            "page": mostly(st.fixed_dictionaries({"url": texts}), 8),
            "consent": mostly(st.fixed_dictionaries({}, optional={"marketing": mostly(st.booleans(), 8)}), 8),
        },
    ),
    8,
)
integrations = mostly(
    st.dictionaries(st.sampled_from(["SendGrid", "sendgrid", "All", "Klaviyo"]), mostly(st.booleans(), 8)), 8
)
optional_parts = {
    "event": mostly(
        st.sampled_from(["Order Completed", "order_completed", "Product Viewed", "product-viewed", "Cart Viewed"])
    ),
    "userId": ids,
    "anonymousId": ids,
    "timestamp": timestamps,
    "traits": traits,
    "properties": properties,
    "context": context,
    "integrations": integrations,
}
message_ids = mostly(st.uuids().map(str) | st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True), 8)
types = mostly(st.sampled_from(["identify", "page", "track", "screen", "group", "alias", "TRACK"]), 8)
events = st.fixed_dictionaries({"messageId": message_ids, "type": types}, optional=optional_parts)
loose_events = st.fixed_dictionaries({}, optional={"messageId": message_ids, "type": types, **optional_parts})

BASES = (
    {
        "messageId": "m-identify",
        "type": "identify",
        "userId": "cust_1",
        "timestamp": "2024-05-01T21:15:00Z",
        "traits": {"email": "Ann@Example.com", "address": {}},
    },
    {"messageId": "m-page", "type": "page", "anonymousId": "a-1", "properties": {"url": "https://x.example/"}},
    {"messageId": "m-pv", "type": "track", "event": "Product Viewed", "userId": "u", "properties": {"sku": "S-1"}},
    {
        "messageId": "m-oc",
        "type": "track",
        "event": "order_completed",
        "userId": "cust_1",
        "properties": {"order_id": "o-1", "revenue": "19.90"},
        "context": {"consent": {"marketing": True}},
    },
)
TRAIT_KEYS = ("first_name", "lastName", "phone", "plan", "ltv", "birthday", "company", "unmapped")
ADDRESS_KEYS = ("street", "city", "state", "postal_code", "country")
PROPERTY_KEYS = ("url", "product_id", "sku", "order_id", "revenue", "total", "currency")


@st.composite
def near_valid_events(draw: st.DrawFn) -> dict:
    """A valid event whose mapped values are messy (notes, not rejections), sometimes with one field broken."""
    event = json.loads(json.dumps(draw(st.sampled_from(BASES))))
    messy = st.one_of(texts, anything)
    for key in draw(st.lists(st.sampled_from(TRAIT_KEYS), unique=True)):
        event.setdefault("traits", {})[key] = draw(messy)
    for key in draw(st.lists(st.sampled_from(ADDRESS_KEYS), unique=True)):
        event.setdefault("traits", {}).setdefault("address", {})[key] = draw(messy)
    for key in draw(st.lists(st.sampled_from(PROPERTY_KEYS), unique=True)):
        event["properties"] = {**(event.get("properties") or {}), key: draw(mostly(st.one_of(ids, numbers)))}
    if draw(st.booleans()):
        event.setdefault("context", {})["page"] = {"url": draw(texts)}
    if draw(st.integers(0, 3)) == 0:
        key, value = draw(st.sampled_from(sorted(optional_parts)).flatmap(lambda k: st.tuples(st.just(k), anything)))
        event[key] = value
    return event


payloads = st.integers(0, 9).flatmap(
    lambda pick: near_valid_events() if pick > 5 else events if pick > 2 else loose_events if pick else anything
)


def _place(payload: object, place: tuple[str, ...], value: object) -> object:
    """`payload` with `value` put at the path `place` (creating objects on the way); the root if empty."""
    if not place:
        return value
    root = dict(payload) if isinstance(payload, dict) else {"messageId": "m", "type": "identify", "userId": "u"}
    node = root
    for key in place[:-1]:
        child = node.get(key)
        node[key] = dict(child) if isinstance(child, dict) else {}
        node = node[key]
    node[place[-1]] = value
    return root


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_result(result: MappedEvent) -> None:
    assert result.status in {"mapped", "skipped", "rejected"}
    if result.status == "mapped":
        assert result.reason is None
    else:
        assert isinstance(result.reason, str)
        assert result.reason
        assert not result.reason.startswith("internal_error"), result.reason
        assert not result.fields
    for text in (result.reason or "", *result.notes, result.message_id or "", result.user_id or ""):
        assert _utf8(text)
    if result.timestamp is not None:
        assert result.timestamp.tzinfo is not None
        assert result.timestamp.utcoffset().total_seconds() == 0
    if result.email is not None:
        assert len(result.email) <= EMAIL_MAX_LENGTH
        assert result.email == result.email.strip().lower()


def _check_contact(result: MappedEvent) -> None:
    contact = contact_for_sendgrid(result.email or "someone@example.com", result.fields, FIELD_IDS)
    json.dumps(contact, ensure_ascii=False, allow_nan=False).encode("utf-8")
    for name, limit in RESERVED_LIMITS.items():
        assert len(contact.get(name, "")) <= limit
    for value in contact.get("custom_fields", {}).values():
        assert not isinstance(value, bool)
        assert isinstance(value, int | float) or len(value) <= CUSTOM_TEXT_LIMIT


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    payload=payloads,
    require_consent=st.sampled_from([False, False, False, True]),
    depth=st.sampled_from([0, 0, 0, 50, 2_000, 20_000]),
    place=st.sampled_from(DEEP_PLACES),
)
@example(payload=None, require_consent=False, depth=0, place=())
@example(payload="identify", require_consent=False, depth=0, place=())
@example(payload={"messageId": "m", "type": "identify", "userId": "u"}, require_consent=False, depth=20_000, place=())
@example(
    payload={"messageId": "m", "type": "identify", "userId": "u", "traits": {"email": "a@b.co"}},
    require_consent=False,
    depth=20_000,
    place=("traits", "plan"),
)
@example(
    payload={"messageId": "m", "type": "identify", "userId": "\ud800", "traits": {"email": "a\udfff@x.com"}},
    require_consent=False,
    depth=0,
    place=(),
)
@example(
    payload={
        "messageId": "m",
        "type": "identify",
        "userId": "u",
        "traits": {"email": "ann@example.com", "first_name": "\ud800" * 80, "plan": [float("nan")], "ltv": "Infinity"},
    },
    require_consent=True,
    depth=0,
    place=(),
)
def test_hostile_events_end_mapped_skipped_or_rejected(
    payload: object, require_consent: bool, depth: int, place: tuple[str, ...]
) -> None:
    if depth:
        payload = _place(payload, place, _nest(depth))
    config = MappingConfig(**{**CONFIG.to_dict(), "require_consent": require_consent})
    result = map_event(payload, config, RECEIVED_AT)
    event(f"{result.status}: {result.kind}")  # see --hypothesis-show-statistics
    _check_result(result)
    asdict(result)
    if result.status == "mapped":
        _check_contact(result)
