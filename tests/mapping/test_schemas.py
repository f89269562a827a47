"""The event envelope's `context`: what is valid is kept, and each problem names its nested path."""

from __future__ import annotations

import pytest

from mapping.schemas import EVENT_SCHEMA

PAGE = {"url": "https://shop.example/p/1", "title": "P1"}


@pytest.mark.parametrize(
    ("context", "expected", "problems"),
    [
        (None, None, []),
        ({}, {"page": None, "consent": None}, []),
        (
            {"page": PAGE, "consent": {"marketing": True, "analytics": False}, "ip": "203.0.113.9", "traits": {}},
            {"page": PAGE, "consent": {"marketing": True}},
            [],
        ),
        ({"consent": {"marketing": "Denied "}}, {"page": None, "consent": {"marketing": False}}, []),
        ({"consent": {"marketing": None}}, {"page": None, "consent": {"marketing": None}}, []),
        ({"consent": {"analytics": True}}, {"page": None, "consent": {"marketing": None}}, []),
        ("mobile", None, ["context: expected an object, got 'mobile'"]),
        (
            {"page": "/p/1", "consent": {"marketing": True}},
            {"page": None, "consent": {"marketing": True}},
            ["context.page: expected an object, got '/p/1'"],
        ),
        (
            {"page": PAGE, "consent": {"marketing": "maybe"}},
            {"page": PAGE, "consent": {}},
            ["context.consent.marketing: expected true or false, got 'maybe'"],
        ),
        (
            {"page": [], "consent": True},
            {"page": None, "consent": None},
            ["context.page: expected an object, got a list", "context.consent: expected an object, got true"],
        ),
    ],
)
def test_context_loads_page_and_marketing_consent(context: object, expected: dict | None, problems: list[str]):
    payload = {"messageId": "m-1", "type": "page", "context": context}
    data, found = EVENT_SCHEMA.load_or_errors(payload)
    assert (data.get("context"), found) == (expected, problems)
