"""Email normalisation, track-name spellings and the integrations switch."""

from __future__ import annotations

import pytest

from mapping import normalize_email, track_kind
from mapping.consent import integrations_switch


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Ann.Lee@Example.COM ", "ann.lee@example.com"),
        ("bob+tag@example.co.uk", "bob+tag@example.co.uk"),
        ("foo", None),
        ("a@b", None),
        ("root@localhost", None),
        ("", None),
        (None, None),
        (42, None),
        ("x" * 250 + "@example.com", None),
        ("a\ud800@example.com", None),
    ],
)
def test_normalize_email(value: object, expected: str | None) -> None:
    assert normalize_email(value) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Order Completed", "order_completed"),
        ("order_completed", "order_completed"),
        ("ORDER-COMPLETED", "order_completed"),
        ("  order   completed ", "order_completed"),
        ("Product Viewed", "product_viewed"),
        ("product_viewed", "product_viewed"),
        ("Cart Viewed", None),
        ("", None),
        (None, None),
        (["Order Completed"], None),
    ],
)
def test_track_kind(name: object, expected: str | None) -> None:
    assert track_kind(name) == expected


@pytest.mark.parametrize(
    ("integrations", "expected"),
    [
        (None, (True, [])),
        ({}, (True, [])),
        ({"SendGrid": False}, (False, [])),
        ({"send_grid": False}, (False, [])),
        ({"All": False}, (False, [])),
        ({"All": False, "SendGrid": True}, (True, [])),
        ({"All": False, "sendgrid": {"listId": "x"}}, (True, [])),
        ({"SendGrid": True, "sendgrid": False}, (False, [])),
        ({"Klaviyo": False}, (True, [])),
        ({"SendGrid": "off"}, (True, ["integrations.SendGrid: expected true, false or an object, got 'off'"])),
    ],
)
def test_integrations_switch(integrations: dict | None, expected: tuple) -> None:
    assert integrations_switch(integrations) == expected
