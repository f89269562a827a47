"""Realistic Datafly events and the MappedEvent each must become, as data (one case per rule or mess).

`expected` is the whole MappedEvent as `dataclasses.asdict` renders it; `outcome()` only fills the
fields a case leaves at their empty defaults, so every expectation is still a complete dict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from mapping import MappingConfig

RECEIVED_AT = datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
TS = "2024-05-01T21:15:00.000Z"
AT = datetime(2024, 5, 1, 21, 15, tzinfo=UTC)

CONFIG = MappingConfig(
    trait_fields={
        "plan": "plan",
        "beta": "beta_tester",
        "tags": "tags",
        "preferences": "preferences",
        "company.name": "company_name",
        "predicted_ltv": "predicted_ltv",
        "birthday": "birthday",
    },
    field_types={"predicted_ltv": "Number", "birthday": "Date"},
)
STRICT = MappingConfig(require_consent=True)


@dataclass(frozen=True)
class Case:
    id: str
    event: object
    expected: dict
    config: MappingConfig = field(default=CONFIG)


def outcome(
    status: str,
    reason: str | None = None,
    *,
    message_id: str | None,
    kind: str | None,
    timestamp: datetime | None = AT,
    email: str | None = None,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    fields: dict | None = None,
    order: dict | None = None,
    consent: bool | None = None,
    notes: tuple[str, ...] = (),
    clock_clamped_from: datetime | None = None,
) -> dict:
    if status == "rejected":
        timestamp = None
    return {
        "status": status,
        "reason": reason,
        "message_id": message_id,
        "kind": kind,
        "timestamp": timestamp,
        "email": email,
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "fields": fields or {},
        "order": order,
        "consent": consent,
        "notes": notes,
        "clock_clamped_from": clock_clamped_from,
    }


def rejected(reason: str, message_id: str | None, kind: str | None) -> dict:
    return outcome("rejected", reason, message_id=message_id, kind=kind)


IDENTIFY_FULL = {
    "messageId": "msg-identify-1",
    "type": "identify",
    "userId": "cust_1001",
    "anonymousId": "anon-7f3a",
    "timestamp": TS,
    "traits": {
        "email": "  Ann.Lee@Example.COM ",
        "first_name": "Ann",
        "last_name": "Lee",
        "phone": "+1 415 555 0100",
        "address": {
            "street": "1 Market St",
            "city": "San Francisco",
            "state": "CA",
            "postal_code": "94105",
            "country": "US",
        },
        "plan": "pro",
        "unmapped_trait": "ignored",
    },
    "context": {"ip": "203.0.113.9", "locale": "en-US", "consent": {"marketing": True, "analytics": True}},
    "sentAt": TS,
    "someVendorKey": {"x": 1},
}

CASES: list[Case] = [
    # --- identify ---------------------------------------------------------------------------------------
    Case(
        "identify: every reserved field, user id, mapped trait; unknown keys ignored",
        IDENTIFY_FULL,
        outcome(
            "mapped",
            message_id="msg-identify-1",
            kind="identify",
            email="ann.lee@example.com",
            user_id="cust_1001",
            anonymous_id="anon-7f3a",
            consent=True,
            fields={
                "first_name": "Ann",
                "last_name": "Lee",
                "phone_number": "+1 415 555 0100",
                "address_line_1": "1 Market St",
                "city": "San Francisco",
                "state_province_region": "CA",
                "postal_code": "94105",
                "country": "US",
                "signal_user_id": "cust_1001",
                "plan": "pro",
            },
        ),
    ),
    Case(
        "identify: camelCase traits, numeric phone and postal code, padded names, no timestamp",
        {
            "messageId": "msg-identify-2",
            "type": "Identify",
            "userId": 4711,
            "traits": {
                "email": "BOB@example.org",
                "firstName": "  Bob ",
                "lastName": "Stone",
                "phone": 4155550101,
                "address": {"street": "9 Elm", "postalCode": 10115},
            },
        },
        outcome(
            "mapped",
            message_id="msg-identify-2",
            kind="identify",
            timestamp=RECEIVED_AT,
            email="bob@example.org",
            user_id="4711",
            fields={
                "first_name": "Bob",
                "last_name": "Stone",
                "phone_number": "4155550101",
                "address_line_1": "9 Elm",
                "postal_code": "10115",
                "signal_user_id": "4711",
            },
        ),
    ),
    Case(
        "identify: booleans, lists, objects become strings; Number/Date traits coerced; nested trait path",
        {
            "messageId": "msg-identify-3",
            "type": "identify",
            "userId": "cust_1002",
            "timestamp": "2024-05-01T23:30:00+02:00",
            "traits": {
                "email": "carol@example.com",
                "beta": True,
                "tags": ["vip", "newsletter"],
                "preferences": {"sms": False, "freq": "weekly"},
                "company": {"name": "Acme GmbH"},
                "predicted_ltv": " 250.50 ",
                "birthday": "1990-02-28",
            },
        },
        outcome(
            "mapped",
            message_id="msg-identify-3",
            kind="identify",
            timestamp=datetime(2024, 5, 1, 21, 30, tzinfo=UTC),
            email="carol@example.com",
            user_id="cust_1002",
            fields={
                "signal_user_id": "cust_1002",
                "beta_tester": "true",
                "tags": '["vip","newsletter"]',
                "preferences": '{"sms":false,"freq":"weekly"}',
                "company_name": "Acme GmbH",
                "predicted_ltv": 250.5,
                "birthday": "02/28/1990",
            },
        ),
    ),
    Case(
        "identify: over-long values are cut and noted; bad Number/Date traits left out and noted",
        {
            "messageId": "msg-identify-4",
            "type": "identify",
            "userId": "cust_1003",
            "timestamp": TS,
            "traits": {
                "email": "dan@example.com",
                "first_name": "D" * 73,
                "address": {"city": "C" * 61, "street": "S" * 120},
                "plan": "p" * 1200,
                "predicted_ltv": "NaN",
                "birthday": "someday",
            },
        },
        outcome(
            "mapped",
            message_id="msg-identify-4",
            kind="identify",
            email="dan@example.com",
            user_id="cust_1003",
            fields={
                "first_name": "D" * 50,
                "address_line_1": "S" * 100,
                "city": "C" * 60,
                "signal_user_id": "cust_1003",
                "plan": "p" * 1000,
            },
            notes=(
                "first_name cut from 73 to 50 characters",
                "address_line_1 cut from 120 to 100 characters",
                "city cut from 61 to 60 characters",
                "plan cut from 1200 to 1000 characters",
                "predicted_ltv: 'NaN' is not a number; left out",
                "birthday: 'someday' is not a date; left out",
            ),
        ),
    ),
    Case(
        "identify: an address that is not an object is left out with a note",
        {
            "messageId": "msg-identify-5",
            "type": "identify",
            "userId": "cust_1004",
            "timestamp": TS,
            "traits": {"email": "eve@example.com", "address": "1 Main St, Springfield"},
        },
        outcome(
            "mapped",
            message_id="msg-identify-5",
            kind="identify",
            email="eve@example.com",
            user_id="cust_1004",
            fields={"signal_user_id": "cust_1004"},
            notes=("traits.address: expected an object, got '1 Main St, Springfield'; address left out",),
        ),
    ),
    Case(
        "identify without email: still mapped (links ids), email None; the worker decides",
        {
            "messageId": "msg-identify-6",
            "type": "identify",
            "anonymousId": "anon-1",
            "timestamp": TS,
            "traits": {"first_name": "Fay", "email": ""},
        },
        outcome(
            "mapped",
            message_id="msg-identify-6",
            kind="identify",
            anonymous_id="anon-1",
            fields={"first_name": "Fay"},
        ),
    ),
    Case(
        "identify: an invalid email rejects, naming traits.email",
        {"messageId": "msg-identify-7", "type": "identify", "userId": "u", "traits": {"email": "foo"}},
        rejected("traits.email: 'foo' is not a valid email", "msg-identify-7", "identify"),
    ),
    Case(
        "identify: an email longer than 254 characters rejects (an email cannot be cut)",
        {
            "messageId": "msg-identify-8",
            "type": "identify",
            "userId": "u",
            "traits": {"email": "a" * 250 + "@example.com"},
        },
        rejected("traits.email: longer than 254 characters", "msg-identify-8", "identify"),
    ),
    Case(
        "identify: traits that are not an object reject",
        {"messageId": "msg-identify-9", "type": "identify", "userId": "u", "traits": ["email"]},
        rejected("traits: expected an object, got a list", "msg-identify-9", "identify"),
    ),
    # --- page -------------------------------------------------------------------------------------------
    Case(
        "page: properties.url wins; email from context.traits",
        {
            "messageId": "msg-page-1",
            "type": "page",
            "userId": "cust_1001",
            "timestamp": TS,
            "name": "Pricing",
            "properties": {"url": "https://shop.example.com/pricing", "path": "/pricing"},
            "context": {"page": {"url": "https://ignored.example.com"}, "traits": {"email": " Ann.Lee@example.com"}},
        },
        outcome(
            "mapped",
            message_id="msg-page-1",
            kind="page",
            email="ann.lee@example.com",
            user_id="cust_1001",
            fields={"last_page_url": "https://shop.example.com/pricing"},
        ),
    ),
    Case(
        "page: falls back to context.page.url",
        {
            "messageId": "msg-page-2",
            "type": "page",
            "anonymousId": "anon-2",
            "timestamp": TS,
            "context": {"page": {"url": "https://shop.example.com/", "title": "Home"}},
        },
        outcome(
            "mapped",
            message_id="msg-page-2",
            kind="page",
            anonymous_id="anon-2",
            fields={"last_page_url": "https://shop.example.com/"},
        ),
    ),
    Case(
        "page: no url anywhere rejects",
        {"messageId": "msg-page-3", "type": "page", "anonymousId": "anon-2", "properties": {"path": "/x"}},
        rejected("properties.url: missing (and no context.page.url)", "msg-page-3", "page"),
    ),
    Case(
        "page: an invalid context.traits.email rejects",
        {
            "messageId": "msg-page-4",
            "type": "page",
            "userId": "u",
            "properties": {"url": "https://x.example"},
            "context": {"traits": {"email": "not-an-email"}},
        },
        rejected("context.traits.email: 'not-an-email' is not a valid email", "msg-page-4", "page"),
    ),
    # --- Product Viewed ---------------------------------------------------------------------------------
    Case(
        "Product Viewed (Segment spelling): product_id",
        {
            "messageId": "msg-pv-1",
            "type": "track",
            "event": "Product Viewed",
            "userId": "cust_1001",
            "timestamp": TS,
            "properties": {"product_id": "SKU-42", "name": "Mug", "price": "12.50"},
        },
        outcome(
            "mapped",
            message_id="msg-pv-1",
            kind="product_viewed",
            user_id="cust_1001",
            fields={"last_product_id": "SKU-42"},
        ),
    ),
    Case(
        "product_viewed (Datafly spelling, odd case): sku fallback, numeric id as text",
        {
            "messageId": "msg-pv-2",
            "type": "track",
            "event": " PRODUCT-viewed ",
            "anonymousId": "anon-3",
            "timestamp": TS,
            "properties": {"sku": 998877},
        },
        outcome(
            "mapped",
            message_id="msg-pv-2",
            kind="product_viewed",
            anonymous_id="anon-3",
            fields={"last_product_id": "998877"},
        ),
    ),
    Case(
        "Product Viewed without product_id or sku rejects",
        {"messageId": "msg-pv-3", "type": "track", "event": "Product Viewed", "userId": "u", "properties": {}},
        rejected("properties.product_id: missing (and no properties.sku)", "msg-pv-3", "product_viewed"),
    ),
    # --- Order Completed --------------------------------------------------------------------------------
    Case(
        "Order Completed: revenue as a string keeps its two places; date is the UTC date (MM/DD/YYYY)",
        {
            "messageId": "msg-oc-1",
            "type": "track",
            "event": "Order Completed",
            "userId": "cust_1001",
            "timestamp": "2024-05-01T23:30:00-03:00",
            "properties": {"order_id": "ORD-1", "revenue": "19.90", "currency": "eur", "products": [{"sku": "a"}]},
        },
        outcome(
            "mapped",
            message_id="msg-oc-1",
            kind="order_completed",
            user_id="cust_1001",
            timestamp=datetime(2024, 5, 2, 2, 30, tzinfo=UTC),
            fields={"last_purchase_at": "05/02/2024"},
            order={"order_id": "ORD-1", "revenue": Decimal("19.90"), "currency": "EUR"},
        ),
    ),
    Case(
        "identify dated 2999: its time is its arrival, the claimed timestamp kept",
        {
            "messageId": "msg-identify-future",
            "type": "identify",
            "userId": "u",
            "timestamp": "2999-01-01T00:00:00Z",
            "traits": {"email": "ada@example.com", "first_name": "HACKED"},
        },
        outcome(
            "mapped",
            message_id="msg-identify-future",
            kind="identify",
            timestamp=RECEIVED_AT,
            email="ada@example.com",
            user_id="u",
            fields={"first_name": "HACKED", "signal_user_id": "u"},
            clock_clamped_from=datetime(2999, 1, 1, tzinfo=UTC),
        ),
    ),
    Case(
        "identify dated 23 h after its arrival (within the 24 h skew): its timestamp stands",
        {
            "messageId": "msg-identify-ahead",
            "type": "identify",
            "userId": "u",
            "timestamp": "2024-05-03T07:30:00Z",
            "traits": {"email": "ada@example.com", "first_name": "Ada"},
        },
        outcome(
            "mapped",
            message_id="msg-identify-ahead",
            kind="identify",
            timestamp=datetime(2024, 5, 3, 7, 30, tzinfo=UTC),
            email="ada@example.com",
            user_id="u",
            fields={"first_name": "Ada", "signal_user_id": "u"},
        ),
    ),
    Case(
        "a consent withdrawal dated 2999: skipped consent_denied at its arrival time, the claim kept",
        {
            "messageId": "msg-consent-future",
            "type": "identify",
            "userId": "u",
            "timestamp": "2999-01-01T00:00:00Z",
            "traits": {"email": "ada@example.com"},
            "context": {"consent": {"marketing": False}},
        },
        outcome(
            "skipped",
            "consent_denied",
            message_id="msg-consent-future",
            kind="identify",
            timestamp=RECEIVED_AT,
            email="ada@example.com",
            user_id="u",
            consent=False,
            clock_clamped_from=datetime(2999, 1, 1, tzinfo=UTC),
        ),
    ),
    Case(
        "order_completed: total when no revenue; numeric order id",
        {
            "messageId": "msg-oc-2",
            "type": "track",
            "event": "order_completed",
            "userId": "cust_1001",
            "timestamp": TS,
            "properties": {"order_id": 5001, "total": 42.5},
        },
        outcome(
            "mapped",
            message_id="msg-oc-2",
            kind="order_completed",
            user_id="cust_1001",
            fields={"last_purchase_at": "05/01/2024"},
            order={"order_id": "5001", "revenue": Decimal("42.5"), "currency": None},
        ),
    ),
    Case(
        "Order Completed: no revenue and no total counts as 0; odd currency noted",
        {
            "messageId": "msg-oc-3",
            "type": "track",
            "event": "Order_Completed",
            "anonymousId": "anon-4",
            "timestamp": TS,
            "properties": {"order_id": "ORD-3", "currency": "dollars"},
        },
        outcome(
            "mapped",
            message_id="msg-oc-3",
            kind="order_completed",
            anonymous_id="anon-4",
            fields={"last_purchase_at": "05/01/2024"},
            order={"order_id": "ORD-3", "revenue": Decimal(0), "currency": None},
            notes=("properties.currency: 'dollars' is not a 3-letter code; left out",),
        ),
    ),
    Case(
        "Order Completed: a valid revenue makes a broken total irrelevant",
        {
            "messageId": "msg-oc-4",
            "type": "track",
            "event": "Order Completed",
            "userId": "u",
            "timestamp": TS,
            "properties": {"order_id": "ORD-4", "revenue": 10, "total": "n/a"},
        },
        outcome(
            "mapped",
            message_id="msg-oc-4",
            kind="order_completed",
            user_id="u",
            fields={"last_purchase_at": "05/01/2024"},
            order={"order_id": "ORD-4", "revenue": Decimal(10), "currency": None},
        ),
    ),
    Case(
        "Order Completed dated 2999: the order's time and last_purchase_at are its arrival, the claim kept",
        {
            "messageId": "msg-oc-future",
            "type": "track",
            "event": "Order Completed",
            "userId": "u",
            "timestamp": "2999-01-01T00:00:00Z",
            "properties": {"order_id": "ORD-F", "revenue": 10},
        },
        outcome(
            "mapped",
            message_id="msg-oc-future",
            kind="order_completed",
            user_id="u",
            timestamp=RECEIVED_AT,
            fields={"last_purchase_at": "05/02/2024"},
            order={"order_id": "ORD-F", "revenue": Decimal(10), "currency": None},
            clock_clamped_from=datetime(2999, 1, 1, tzinfo=UTC),
        ),
    ),
    Case(
        "Order Completed: non-numeric revenue rejects",
        {
            "messageId": "msg-oc-5",
            "type": "track",
            "event": "Order Completed",
            "userId": "u",
            "properties": {"order_id": "ORD-5", "revenue": "19,90"},
        },
        rejected("properties.revenue: '19,90' is not a number", "msg-oc-5", "order_completed"),
    ),
    Case(
        "Order Completed: Infinity revenue rejects",
        {
            "messageId": "msg-oc-6",
            "type": "track",
            "event": "Order Completed",
            "userId": "u",
            "properties": {"order_id": "ORD-6", "revenue": float("inf")},
        },
        rejected("properties.revenue: inf is not a number", "msg-oc-6", "order_completed"),
    ),
    Case(
        "Order Completed: missing order_id rejects",
        {
            "messageId": "msg-oc-7",
            "type": "track",
            "event": "Order Completed",
            "userId": "u",
            "properties": {"revenue": 5},
        },
        rejected("properties.order_id: missing", "msg-oc-7", "order_completed"),
    ),
    # --- skipped ----------------------------------------------------------------------------------------
    Case(
        "other track events are skipped with their name",
        {"messageId": "msg-skip-1", "type": "track", "event": "Cart Viewed", "userId": "u", "timestamp": TS},
        outcome("skipped", "unsupported_track_event:Cart Viewed", message_id="msg-skip-1", kind="track", user_id="u"),
    ),
    *[
        Case(
            f"{event_type} is skipped, not an error",
            {"messageId": f"msg-skip-{event_type}", "type": event_type, "userId": "u", "timestamp": TS},
            outcome(
                "skipped",
                f"unsupported_event_type:{event_type}",
                message_id=f"msg-skip-{event_type}",
                kind=event_type,
                user_id="u",
            ),
        )
        for event_type in ("screen", "group", "alias")
    ],
    *[
        Case(
            f"integrations {integrations} keeps the event away",
            {
                "messageId": "msg-int",
                "type": "page",
                "userId": "u",
                "timestamp": TS,
                "properties": {"url": "https://x.example"},
                "integrations": integrations,
            },
            outcome("skipped", "disabled_by_integrations", message_id="msg-int", kind="page", user_id="u"),
        )
        for integrations in (
            {"SendGrid": False},
            {"sendgrid": False},
            {"All": False},
            {"All": False, "Mixpanel": True},
            {"all": True, "SENDGRID": False},
        )
    ],
    *[
        Case(
            f"integrations {integrations} lets the event through",
            {
                "messageId": "msg-int",
                "type": "page",
                "userId": "u",
                "timestamp": TS,
                "properties": {"url": "https://x.example"},
                "integrations": integrations,
            },
            outcome(
                "mapped", message_id="msg-int", kind="page", user_id="u", fields={"last_page_url": "https://x.example"}
            ),
        )
        for integrations in (
            {},
            {"Mixpanel": False},
            {"All": False, "SendGrid": True},
            {"All": False, "SendGrid": {"listId": "x"}},
        )
    ],
    # --- consent ----------------------------------------------------------------------------------------
    Case(
        "consent denied: skipped, no data, identity and consent=False kept for suppression",
        {
            **IDENTIFY_FULL,
            "messageId": "msg-consent-1",
            "context": {"consent": {"marketing": False, "analytics": True}},
        },
        outcome(
            "skipped",
            "consent_denied",
            message_id="msg-consent-1",
            kind="identify",
            email="ann.lee@example.com",
            user_id="cust_1001",
            anonymous_id="anon-7f3a",
            consent=False,
        ),
    ),
    Case(
        "consent denied wins over a malformed rest; what could not be read is noted",
        {
            "messageId": "msg-consent-2",
            "type": "track",
            "event": "Order Completed",
            "anonymousId": "anon-5",
            "timestamp": "last tuesday",
            "properties": {"revenue": "abc"},
            "context": {"consent": {"marketing": "denied"}, "traits": {"email": "Gus@Example.com"}},
        },
        outcome(
            "skipped",
            "consent_denied",
            message_id="msg-consent-2",
            kind="order_completed",
            timestamp=RECEIVED_AT,
            email="gus@example.com",
            anonymous_id="anon-5",
            consent=False,
            notes=("timestamp: not an ISO 8601 date: 'last tuesday'",),
        ),
    ),
    Case(
        "consent denied wins over a malformed integrations switch",
        {
            "messageId": "msg-consent-6",
            "type": "page",
            "userId": "u",
            "timestamp": TS,
            "integrations": {"SendGrid": "maybe"},
            "context": {"consent": {"marketing": False}},
        },
        outcome(
            "skipped",
            "consent_denied",
            message_id="msg-consent-6",
            kind="page",
            user_id="u",
            consent=False,
            notes=("integrations.SendGrid: expected true, false or an object, got 'maybe'",),
        ),
    ),
    Case(
        "integrations switched off wins over consent denied",
        {
            "messageId": "msg-consent-7",
            "type": "page",
            "userId": "u",
            "timestamp": TS,
            "integrations": {"All": False},
            "context": {"consent": {"marketing": False}},
        },
        outcome(
            "skipped", "disabled_by_integrations", message_id="msg-consent-7", kind="page", user_id="u", consent=False
        ),
    ),
    Case(
        "consent granted later: delivered, consent=True reported",
        {
            "messageId": "msg-consent-3",
            "type": "page",
            "userId": "u",
            "timestamp": TS,
            "properties": {"url": "https://x.example"},
            "context": {"consent": {"marketing": True}},
        },
        outcome(
            "mapped",
            message_id="msg-consent-3",
            kind="page",
            user_id="u",
            consent=True,
            fields={"last_page_url": "https://x.example"},
        ),
    ),
    Case(
        "no consent state and require_consent: skipped consent_missing",
        {
            "messageId": "msg-consent-4",
            "type": "page",
            "userId": "u",
            "timestamp": TS,
            "properties": {"url": "https://x.example"},
            "context": {"consent": {"analytics": True}},
        },
        outcome("skipped", "consent_missing", message_id="msg-consent-4", kind="page", user_id="u"),
        config=STRICT,
    ),
    Case(
        "an unreadable consent value rejects, naming the field",
        {
            "messageId": "msg-consent-5",
            "type": "page",
            "userId": "u",
            "properties": {"url": "https://x.example"},
            "context": {"consent": {"marketing": "maybe"}},
        },
        rejected("context.consent.marketing: expected true or false, got 'maybe'", "msg-consent-5", "page"),
    ),
    # --- rejected envelopes -----------------------------------------------------------------------------
    Case(
        "non-object payload",
        ["not", "an", "event"],
        rejected("payload: expected a JSON object, got a list", None, None),
    ),
    Case("missing messageId", {"type": "page", "userId": "u"}, rejected("messageId: missing", None, "page")),
    Case(
        "messageId that is not a string",
        {"messageId": 12, "type": "page", "userId": "u"},
        rejected("messageId: must be a non-empty string of at most 200 characters, got 12", None, "page"),
    ),
    Case("missing type", {"messageId": "msg-r-1", "userId": "u"}, rejected("type: missing", "msg-r-1", None)),
    Case(
        "unknown type",
        {"messageId": "msg-r-2", "type": "purchase", "userId": "u"},
        rejected("type: 'purchase' is not one of identify, page, track, screen, group, alias", "msg-r-2", None),
    ),
    Case(
        "bad timestamp",
        {
            "messageId": "msg-r-3",
            "type": "page",
            "userId": "u",
            "timestamp": "05/01/2024",
            "properties": {"url": "https://x.example"},
        },
        rejected("timestamp: not an ISO 8601 date: '05/01/2024'", "msg-r-3", "page"),
    ),
    Case(
        "no identity at all",
        {"messageId": "msg-r-4", "type": "page", "timestamp": TS, "properties": {"url": "https://x.example"}},
        rejected("userId/anonymousId/email: the event carries no identity", "msg-r-4", "page"),
    ),
    Case(
        "track without an event name",
        {"messageId": "msg-r-5", "type": "track", "userId": "u"},
        rejected("event: missing", "msg-r-5", "track"),
    ),
    Case(
        "several problems are all named",
        {
            "messageId": "msg-r-6",
            "type": "identify",
            "userId": True,
            "timestamp": 1714597200,
            "traits": {"email": "x@"},
        },
        rejected(
            "timestamp: not an ISO 8601 date: 1714597200; userId: expected a string, got true; "
            "traits.email: 'x@' is not a valid email",
            "msg-r-6",
            "identify",
        ),
    ),
    Case(
        "a malformed integrations switch rejects, naming the key",
        {"messageId": "msg-r-7", "type": "page", "userId": "u", "integrations": {"SendGrid": "no"}},
        rejected("integrations.SendGrid: expected true, false or an object, got 'no'", "msg-r-7", "page"),
    ),
]
