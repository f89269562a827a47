"""GET/POST /v3/marketing/field_definitions: reserved fields, opaque ids, the name rules, the cap."""

from __future__ import annotations

import pytest

from sandbox.fields import MAX_CUSTOM_FIELDS

PATH = "/v3/marketing/field_definitions"


def create(box, name, field_type="Text"):
    return box.api("POST", PATH, json={"name": name, "field_type": field_type})


def test_reserved_fields_are_listed_with_ids_and_read_only_dates(sandbox):
    body = sandbox.api("GET", PATH).json()
    assert body["custom_fields"] == []
    reserved = {f["name"]: f for f in body["reserved_fields"]}
    for name in ("first_name", "email", "external_id", "anonymous_id", "phone_number_id", "unique_name"):
        assert reserved[name]["field_type"] == "Text"
    assert reserved["created_at"] == {
        "id": reserved["created_at"]["id"],
        "name": "created_at",
        "field_type": "Date",
        "read_only": True,
    }
    assert reserved["updated_at"]["read_only"] is True
    assert all(f["id"].startswith("_rf") for f in body["reserved_fields"])


def test_create_returns_200_with_an_opaque_id_and_lists_it(sandbox):
    response = create(sandbox, "loyalty_tier", "Number")
    assert response.status_code == 200
    field = response.json()
    assert field["name"] == "loyalty_tier" and field["field_type"] == "Number"
    assert field["id"].endswith("_N")
    assert sandbox.api("GET", PATH).json()["custom_fields"] == [field]


def test_custom_field_ids_differ_between_accounts(sandbox_factory):
    ids = {create(sandbox_factory(seed=seed), "plan").json()["id"] for seed in (1, 2, 3)}
    assert len(ids) > 1


@pytest.mark.parametrize("name", ["", "1abc", "has space", "dash-name", "é", "x" * 101, None, 5])
def test_invalid_names_are_refused(sandbox, name):
    response = create(sandbox, name)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "name"


@pytest.mark.parametrize("name", ["_private", "a", "A1_b", "x" * 100])
def test_valid_names_are_accepted(sandbox, name):
    assert create(sandbox, name).status_code == 200


@pytest.mark.parametrize("name", ["email", "external_id", "first_name", "created_at", "EMAIL", "Phone_Number_Id"])
def test_a_custom_field_cannot_take_a_reserved_name(sandbox, name):
    response = create(sandbox, name)
    assert response.status_code == 400
    assert "reserved" in response.json()["errors"][0]["message"]


def test_names_are_unique_case_insensitively(sandbox):
    assert create(sandbox, "Plan").status_code == 200
    response = create(sandbox, "plan")
    assert response.status_code == 400
    assert "already exists" in response.json()["errors"][0]["message"]


def test_field_type_must_be_text_number_or_date(sandbox):
    response = create(sandbox, "flag", "Boolean")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "field_type"
    assert create(sandbox, "when", "Date").json()["id"].endswith("_D")


def test_at_most_500_custom_fields(sandbox):
    sandbox.settings(rate_limit=10_000)
    for n in range(MAX_CUSTOM_FIELDS):
        assert create(sandbox, f"f{n}").status_code == 200
    response = create(sandbox, "one_too_many")
    assert response.status_code == 400
    assert "500" in response.json()["errors"][0]["message"]
    assert len(sandbox.api("GET", PATH).json()["custom_fields"]) == MAX_CUSTOM_FIELDS
