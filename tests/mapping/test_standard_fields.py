"""A list or an object given for a standard contact field (first_name, last_name, phone_number, the address) is
refused field by field with a note naming the trait; the rest of the event still maps. Custom Text fields keep
their documented JSON text (docs/mapping.md, "Coercion")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mapping import map_event
from mapping.coerce import RESERVED_LIMITS, to_standard_text
from mapping.config import MappingConfig
from mapping.result import Status

NOW = datetime(2024, 5, 1, tzinfo=UTC)
CONFIG = MappingConfig(trait_fields={"plan": "plan_name"})

# (standard field, where its trait sits, the trait key)
STANDARD = [
    ("first_name", "traits", "first_name"),
    ("first_name", "traits", "firstName"),
    ("last_name", "traits", "last_name"),
    ("last_name", "traits", "lastName"),
    ("phone_number", "traits", "phone"),
    ("phone_number", "traits", "phone_number"),
    ("address_line_1", "traits.address", "street"),
    ("city", "traits.address", "city"),
    ("state_province_region", "traits.address", "state"),
    ("postal_code", "traits.address", "zip"),
    ("country", "traits.address", "country"),
]
WRONG = [([], "a list"), (["Ann"], "a list"), ({}, "an object"), ({"first": "Ann"}, "an object")]


def identify(where: str, key: str, value: object) -> dict:
    traits: dict = {"email": "ann@example.com", "plan": ["gold", "yearly"]}
    other = {"last_name": "Lee"} if key not in ("last_name", "lastName") else {"first_name": "Ann"}
    traits.update(other)
    if where == "traits":
        traits[key] = value
    else:
        traits["address"] = {key: value, **({"city": "Berlin"} if key != "city" else {"country": "DE"})}
    return {"type": "identify", "messageId": "m-1", "userId": "u-1", "timestamp": "2024-05-01T10:00:00Z",
            "traits": traits}  # fmt: skip


@pytest.mark.parametrize(("value", "shown"), WRONG)
@pytest.mark.parametrize(("field", "where", "key"), STANDARD)
def test_a_list_or_object_for_a_standard_field_is_refused_and_the_rest_maps(field, where, key, value, shown):
    result = map_event(identify(where, key, value), CONFIG, NOW)
    assert result.status == Status.MAPPED and result.reason is None
    assert field not in result.fields
    assert result.notes == (f"{where}.{key}: expected text, got {shown}; {field} left out",)
    assert result.recorded_notes == result.notes[0]
    kept = {"signal_user_id": "u-1", "plan_name": '["gold","yearly"]'}  # custom Text: JSON, as documented
    assert kept.items() <= result.fields.items()
    assert ("city" in result.fields or "country" in result.fields) if where != "traits" else len(result.fields) == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Ann ", ("Ann", [])),
        (4930123456, ("4930123456", [])),  # a phone number given as a number: its digits
        (True, ("true", [])),
        (None, (None, [])),
        ("x" * 60, ("x" * 50, ["first_name cut from 60 to 50 characters"])),
        ([], (None, ["traits.first_name: expected text, got a list; first_name left out"])),
        ({"a": 1}, (None, ["traits.first_name: expected text, got an object; first_name left out"])),
    ],
)
def test_to_standard_text(value, expected):
    assert to_standard_text(value, "first_name", "traits.first_name") == expected


def test_every_standard_field_has_a_limit_and_refuses_lists():
    for name in RESERVED_LIMITS:
        assert to_standard_text(["x"], name, f"traits.{name}")[0] is None


def test_a_refused_field_does_not_fall_back_to_the_other_spelling():
    traits = {"email": "ann@example.com", "first_name": ["Ann"], "firstName": "Ann"}
    event = {"type": "identify", "messageId": "m-2", "userId": "u-2", "traits": traits}
    result = map_event(event, CONFIG, NOW)
    assert "first_name" not in result.fields
    assert result.notes == ("traits.first_name: expected text, got a list; first_name left out",)


def test_custom_text_fields_keep_their_json_text():
    event = {"type": "identify", "messageId": "m-3", "userId": "u-3",
             "traits": {"email": "ann@example.com", "plan": {"tier": "gold"}}}  # fmt: skip
    result = map_event(event, CONFIG, NOW)
    assert result.fields["plan_name"] == '{"tier":"gold"}' and result.notes == ()
    assert result.recorded_notes is None


def test_many_notes_are_recorded_in_at_most_1000_characters():
    traits = {"email": "ann@example.com", **{k: [] for k in ("first_name", "last_name", "phone")}}
    traits["address"] = {k: {} for k in ("street", "city", "state", "zip", "country")}
    result = map_event({"type": "identify", "messageId": "m-4", "userId": "u", "traits": traits}, CONFIG, NOW)
    assert len(result.notes) == 8 and result.recorded_notes == "; ".join(result.notes)
    long = result.__class__(**{**result.__dict__, "notes": result.notes * 20})
    assert len(long.recorded_notes) == 1000 and long.recorded_notes.endswith("...")
