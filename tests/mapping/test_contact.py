"""contact_for_sendgrid: the outgoing contact, custom fields by id, and what it refuses."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from mapping import UnknownCustomField, contact_for_sendgrid

IDS = {"signal_user_id": "e1_T", "Last_Page_URL": "e2_T", "lifetime_value": "e3_N", "last_purchase_at": "e4_D"}


@pytest.mark.parametrize(
    ("email", "fields", "expected"),
    [
        pytest.param("ann@example.com", {}, {"email": "ann@example.com"}, id="email only"),
        pytest.param(
            " Ann@Example.com",
            {
                "first_name": "Ann",
                "city": "Berlin",
                "signal_user_id": "cust_1",
                "last_page_url": "https://x.example",
                "lifetime_value": Decimal("39.80"),
                "last_purchase_at": "05/01/2024",
            },
            {
                "email": "ann@example.com",
                "first_name": "Ann",
                "city": "Berlin",
                "custom_fields": {"e1_T": "cust_1", "e2_T": "https://x.example", "e3_N": 39.8, "e4_D": "05/01/2024"},
            },
            id="reserved on top, custom by id (names matched case-insensitively), Decimal as number",
        ),
    ],
)
def test_contact_for_sendgrid(email: str, fields: dict, expected: dict) -> None:
    contact = contact_for_sendgrid(email, fields, IDS)
    assert contact == expected
    json.dumps(contact, allow_nan=False)


def test_unknown_custom_field_names_the_field() -> None:
    with pytest.raises(UnknownCustomField) as caught:
        contact_for_sendgrid("ann@example.com", {"plan": "pro"}, IDS)
    assert caught.value.name == "plan"
    assert str(caught.value) == "plan"


@pytest.mark.parametrize(
    "fields",
    [
        {"first_name": "x" * 51},
        {"signal_user_id": "x" * 1001},
        {"signal_user_id": True},
        {"lifetime_value": float("nan")},
    ],
)
def test_values_breaking_sendgrid_rules_are_refused(fields: dict) -> None:
    with pytest.raises(ValidationError):
        contact_for_sendgrid("ann@example.com", fields, IDS)


def test_invalid_email_is_refused() -> None:
    with pytest.raises(ValidationError):
        contact_for_sendgrid("not-an-email", {}, IDS)
