"""Property tests: random and hostile events never break the mapping, and end as their defect calls for.

Wrong types everywhere, huge strings, deep nesting, non-object payloads, lone surrogates, NaN/Infinity and
missing ids: each generated case carries the one property that decides its outcome (not an object, no valid
envelope, consent denied, SendGrid switched off, an unsupported event, messy but valid values, a broken order)
and must end with exactly that status and reason, whatever the rest of it holds. Nothing raises, every string
the worker stores is valid UTF-8, and every mapped event yields a JSON-serialisable contact within SendGrid's
limits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from mapping import (
    CUSTOM_TEXT_LIMIT,
    EMAIL_MAX_LENGTH,
    RESERVED_LIMITS,
    MappedEvent,
    MappingConfig,
    SkipReason,
    Status,
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
EVENT_TYPE_SPELLINGS = ("identify", "page", "track", "screen", "group", "alias", "TRACK")
types = mostly(st.sampled_from(EVENT_TYPE_SPELLINGS), 8)
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
PROPERTIES_READ = {"m-page": {"url"}, "m-pv": {"product_id", "sku"}, "m-oc": {"order_id", "revenue", "total"}}
PROPERTY_KEYS = ("url", "product_id", "sku", "order_id", "revenue", "total", "currency")


valid_message_ids = st.uuids().map(str) | st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)
invalid_message_ids = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.sampled_from(["", "   "]),
    st.integers(201, 5_000).map(lambda n: "m" * n),
    st.lists(scalars, max_size=2),
)
VALID_TYPES = st.sampled_from(EVENT_TYPE_SPELLINGS)
non_objects = st.one_of(scalars, st.lists(json_values, max_size=4))


@dataclass(frozen=True)
class Case:
    """A payload and the outcome its one decisive property calls for (the rest of it may be anything)."""

    payload: object
    require_consent: bool
    status: Status
    reasons: tuple[str, ...] = ()  # the reason starts with one of these; () for mapped


def hostile_event(draw: st.DrawFn, types: st.SearchStrategy = VALID_TYPES) -> dict:
    """A valid envelope (messageId, type) with every other part drawn from anything at all."""
    return draw(st.fixed_dictionaries({"messageId": valid_message_ids, "type": types}, optional=optional_parts))


def with_context(event: dict, **parts: object) -> dict:
    context = event.get("context")
    return {**event, "context": {**(context if isinstance(context, dict) else {}), **parts}}


@st.composite
def not_an_object(draw: st.DrawFn) -> Case:
    return Case(draw(non_objects), draw(st.booleans()), Status.REJECTED, ("payload: expected a JSON object",))


@st.composite
def no_valid_envelope(draw: st.DrawFn) -> Case:
    """messageId or type missing, or a messageId that cannot be one; the rest of the event anything."""
    event = dict(draw(events))
    broken = draw(st.sampled_from(["messageId", "type", "both", "invalid messageId"]))
    if broken == "invalid messageId":
        event["messageId"] = draw(invalid_message_ids)
    else:
        for key in ("messageId", "type") if broken == "both" else (broken,):
            event.pop(key)
    return Case(event, draw(st.booleans()), Status.REJECTED, ("messageId:", "type:"))


@st.composite
def consent_denied(draw: st.DrawFn) -> Case:
    """A denial is honoured whatever else is malformed (an integrations switch-off skips it first)."""
    event = with_context(hostile_event(draw), consent={"marketing": False})
    reasons = (SkipReason.CONSENT_DENIED, SkipReason.DISABLED_BY_INTEGRATIONS)
    return Case(event, draw(st.booleans()), Status.SKIPPED, reasons)


@st.composite
def switched_off(draw: st.DrawFn) -> Case:
    event = hostile_event(draw)
    event["integrations"] = {draw(st.sampled_from(["SendGrid", "sendgrid", "Send_Grid"])): False}
    return Case(event, draw(st.booleans()), Status.SKIPPED, (SkipReason.DISABLED_BY_INTEGRATIONS,))


@st.composite
def unsupported(draw: st.DrawFn) -> Case:
    """screen/group/alias, or a track event this integration does not map; consent given or not said."""
    event = hostile_event(draw, st.sampled_from(["screen", "group", "alias", "track", "Track"]))
    event.pop("integrations", None)
    if event["type"].lower() == "track":
        event["event"] = draw(st.sampled_from(["Cart Viewed", "Signed Up", "order completed twice"]))
    event = with_context(event, consent=draw(st.sampled_from([None, {}, {"marketing": True}])))
    reasons = ("unsupported_event_type:", "unsupported_track_event:")
    return Case(event, draw(st.booleans()), Status.SKIPPED, reasons)


@st.composite
def messy_but_valid(draw: st.DrawFn) -> Case:
    """A valid event whose mapped values are messy: notes, never a rejection."""
    event = json.loads(json.dumps(draw(st.sampled_from(BASES))))
    messy = st.one_of(texts, anything)
    for key in draw(st.lists(st.sampled_from(TRAIT_KEYS), unique=True)):
        event.setdefault("traits", {})[key] = draw(messy)
    for key in draw(st.lists(st.sampled_from(ADDRESS_KEYS), unique=True)):
        event.setdefault("traits", {}).setdefault("address", {})[key] = draw(messy)
    # Properties the event's kind does not read (an order's id and amount are checked: see broken_order).
    unread = [key for key in PROPERTY_KEYS if key not in PROPERTIES_READ.get(event["messageId"], ())]
    for key in draw(st.lists(st.sampled_from(unread), unique=True)):
        event["properties"] = {**(event.get("properties") or {}), key: draw(mostly(st.one_of(ids, numbers)))}
    if draw(st.booleans()):
        event.setdefault("context", {})["page"] = {"url": draw(texts)}
    require_consent = draw(st.booleans())
    if require_consent and "consent" not in event.get("context", {}):
        return Case(event, require_consent, Status.SKIPPED, (SkipReason.CONSENT_MISSING,))
    return Case(event, require_consent, Status.MAPPED)


@st.composite
def broken_order(draw: st.DrawFn) -> Case:
    """An order whose id is not an id or whose amount is not a number cannot count towards lifetime value."""
    event = json.loads(json.dumps(BASES[3]))
    not_an_id = st.one_of(st.booleans(), st.floats(), st.lists(scalars, max_size=2), huge_text)
    not_a_number = st.one_of(st.sampled_from(["abc", "", "19,90 EUR"]), st.lists(scalars, max_size=2))
    key, value = draw(st.one_of(st.tuples(st.just("order_id"), not_an_id), st.tuples(st.just("revenue"), not_a_number)))
    event["properties"][key] = value
    return Case(event, draw(st.booleans()), Status.REJECTED, (f"properties.{key}:",))


@st.composite
def identify_without_traits_object(draw: st.DrawFn) -> Case:
    non_object_traits = st.one_of(
        st.booleans(), st.integers(), st.floats(), hostile_text, st.lists(scalars, max_size=3)
    )
    event = {**BASES[0], "traits": draw(non_object_traits)}
    if draw(st.booleans()):  # missing consent is decided before the fields are read
        return Case(event, True, Status.SKIPPED, (SkipReason.CONSENT_MISSING,))
    return Case(event, False, Status.REJECTED, ("traits:",))


cases = st.one_of(
    not_an_object(),
    no_valid_envelope(),
    consent_denied(),
    switched_off(),
    unsupported(),
    messy_but_valid(),
    broken_order(),
    identify_without_traits_object(),
)
# Random events (mostly well-formed envelopes, anything in every part) whose outcome the test does not predict.
payloads = st.one_of(events, loose_events, anything)


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
    if result.status == Status.MAPPED:
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


def _map(payload: object, require_consent: bool) -> MappedEvent:
    config = MappingConfig(**{**CONFIG.to_dict(), "require_consent": require_consent})
    result = map_event(payload, config, RECEIVED_AT)
    _check_result(result)
    asdict(result)
    if result.status == Status.MAPPED:
        _check_contact(result)
    return result


PROPERTY_SETTINGS = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@PROPERTY_SETTINGS
@given(case=cases)
@example(case=Case(None, False, Status.REJECTED, ("payload: expected a JSON object",)))
@example(case=Case("identify", False, Status.REJECTED, ("payload: expected a JSON object",)))
@example(
    case=Case(
        {"messageId": "m", "type": "identify", "userId": "\ud800", "traits": {"email": "a\udfff@x.com"}},
        False,
        Status.REJECTED,
        ("userId:", "traits.email:"),
    )
)
@example(
    case=Case(
        {
            "messageId": "m",
            "type": "identify",
            "userId": "u",
            "traits": {
                "email": "ann@example.com",
                "first_name": "\ud800" * 80,
                "plan": [float("nan")],
                "ltv": "Infinity",
            },
            "context": {"consent": {"marketing": True}},
        },
        True,
        Status.MAPPED,
    )
)
def test_hostile_events_end_with_the_status_their_defect_calls_for(case: Case) -> None:
    result = _map(case.payload, case.require_consent)
    event(f"{result.status}: {result.kind}")  # see --hypothesis-show-statistics
    assert result.status == case.status, result.reason
    if case.reasons:
        assert result.reason.startswith(case.reasons), result.reason


@PROPERTY_SETTINGS
@given(payload=payloads, require_consent=st.booleans())
def test_any_payload_ends_mapped_skipped_or_rejected_without_an_internal_error(
    payload: object, require_consent: bool
) -> None:
    result = _map(payload, require_consent)
    event(f"{result.status}: {result.kind}")


# A value nested thousands deep at one place of a valid identify (or order) event, and what it must give.
# The values are built here, not drawn: Hypothesis' own reporting recurses into arguments and would fail on them.
DEEP = [
    (0, (), Status.REJECTED),
    (0, ("traits",), Status.REJECTED),
    (0, ("traits", "plan"), Status.MAPPED),  # text custom field: noted and left out
    (0, ("traits", "company"), Status.MAPPED),  # company.name absent
    (0, ("traits", "email"), Status.REJECTED),
    (0, ("properties",), Status.MAPPED),  # identify does not read properties
    (3, ("properties",), Status.REJECTED),
    (3, ("properties", "revenue"), Status.REJECTED),
    (0, ("context", "consent"), Status.REJECTED),
    (0, ("integrations", "SendGrid"), Status.REJECTED),
]


@pytest.mark.parametrize("depth", [50, 2_000, 20_000])
@pytest.mark.parametrize(("base", "place", "status"), DEEP)
def test_deeply_nested_values(base: int, place: tuple[str, ...], status: Status, depth: int) -> None:
    result = _map(_place(BASES[base], place, _nest(depth)), False)
    assert result.status == status, result.reason
