"""MappingConfig: defaults, required fields, round trip through stored JSON, and early errors."""

from __future__ import annotations

import pickle

import pytest

from mapping import MappingConfig, parse_field_option


def test_defaults_and_required_fields() -> None:
    assert MappingConfig().required_fields() == {
        "signal_user_id": "Text",
        "last_page_url": "Text",
        "last_product_id": "Text",
        "last_purchase_at": "Date",
        "lifetime_value": "Number",
    }


def test_trait_fields_are_required_with_their_types() -> None:
    config = MappingConfig(trait_fields={"plan": "plan", "ltv": "ltv"}, field_types={"ltv": "number"})
    assert config.required_fields() == {
        "signal_user_id": "Text",
        "last_page_url": "Text",
        "last_product_id": "Text",
        "last_purchase_at": "Date",
        "lifetime_value": "Number",
        "plan": "Text",
        "ltv": "Number",
    }


def test_round_trip_through_stored_json_ignores_unknown_keys() -> None:
    stored = {
        "api_key_ref": "vault:abc",
        "default_list_id": "6e6b5f1a-0000-0000-0000-000000000000",
        "user_id_field": "customer_id",
        "trait_fields": {"plan": "plan"},
        "field_types": {"plan": "Text"},
        "require_consent": True,
    }
    config = MappingConfig.from_dict(stored)
    assert config.to_dict() == {
        "user_id_field": "customer_id",
        "page_url_field": "last_page_url",
        "product_id_field": "last_product_id",
        "last_purchase_field": "last_purchase_at",
        "lifetime_value_field": "lifetime_value",
        "trait_fields": {"plan": "plan"},
        "field_types": {"plan": "Text"},
        "require_consent": True,
    }
    assert MappingConfig.from_dict(config.to_dict()) == config
    assert pickle.loads(pickle.dumps(config)) == config  # noqa: S301 - our own bytes; Celery may pickle configs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"user_id_field": "external_id"}, "reserved field name"),
        ({"page_url_field": "Email"}, "reserved field name"),
        ({"product_id_field": "1st"}, "not a valid SendGrid custom field name"),
        ({"trait_fields": {"plan": "has space"}}, "not a valid SendGrid custom field name"),
        ({"trait_fields": {"plan": "x" * 101}}, "not a valid SendGrid custom field name"),
        ({"trait_fields": {"a": "plan", "b": "PLAN"}}, "configured twice"),
        ({"trait_fields": {"uid": "signal_user_id"}}, "configured twice"),
        ({"trait_fields": {"plan": "plan"}, "field_types": {"plan": "Boolean"}}, "not one of Text, Number, Date"),
        ({"field_types": {"other": "Text"}}, "not a field named in trait_fields"),
        ({"require_consent": "yes"}, "require_consent"),
    ],
)
def test_bad_configs_fail_early(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MappingConfig(**kwargs)


def test_from_dict_needs_an_object() -> None:
    with pytest.raises(ValueError, match="expected an object"):
        MappingConfig.from_dict(["user_id_field"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "expected"),
    [("plan=plan", ("plan", "plan")), (" company.name = company_name ", ("company.name", "company_name"))],
)
def test_parse_field_option(option: str, expected: tuple[str, str]) -> None:
    assert parse_field_option(option) == expected


@pytest.mark.parametrize("option", ["plan", "=plan", "plan=", "plan=first_name"])
def test_parse_field_option_rejects(option: str) -> None:
    with pytest.raises(ValueError):
        parse_field_option(option)
