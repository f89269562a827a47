"""The SendGrid contact for one upsert: reserved fields at the top level, custom fields keyed by field id."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from marshmallow import RAISE, ValidationError, fields, validate

from mapping.coerce import CUSTOM_TEXT_LIMIT, EMAIL_MAX_LENGTH, RESERVED_LIMITS, describe, parse_decimal, to_number
from mapping.schemas import DELIVERABLE_EMAIL, BaseSchema


def _custom_value(value: object) -> None:
    """Custom field values are text (within the limit) or finite numbers; never booleans, lists or objects."""
    if isinstance(value, str):
        if len(value) > CUSTOM_TEXT_LIMIT:
            raise ValidationError(f"longer than {CUSTOM_TEXT_LIMIT} characters")
        return
    if isinstance(value, int | float) and not isinstance(value, bool) and parse_decimal(value) is not None:
        return
    raise ValidationError(f"{describe(value)} is not a text or number value")


class ContactSchema(BaseSchema):
    """The outgoing SendGrid contact: email is the only identifier; custom fields are keyed by field id."""

    class Meta:
        unknown = RAISE

    email = fields.String(required=True, validate=[validate.Length(max=EMAIL_MAX_LENGTH), DELIVERABLE_EMAIL])
    first_name = fields.String(validate=validate.Length(min=1, max=RESERVED_LIMITS["first_name"]))
    last_name = fields.String(validate=validate.Length(min=1, max=RESERVED_LIMITS["last_name"]))
    phone_number = fields.String(validate=validate.Length(min=1, max=RESERVED_LIMITS["phone_number"]))
    address_line_1 = fields.String(validate=validate.Length(min=1, max=RESERVED_LIMITS["address_line_1"]))
    city = fields.String(validate=validate.Length(min=1, max=RESERVED_LIMITS["city"]))
    state_province_region = fields.String(validate=validate.Length(min=1, max=RESERVED_LIMITS["state_province_region"]))
    postal_code = fields.String(validate=validate.Length(min=1, max=RESERVED_LIMITS["postal_code"]))
    country = fields.String(validate=validate.Length(min=1, max=RESERVED_LIMITS["country"]))
    custom_fields = fields.Dict(keys=fields.String(), values=fields.Raw(validate=_custom_value))


CONTACT_SCHEMA = ContactSchema()  # one instance serves every call (no per-call state)


class UnknownCustomField(KeyError):
    """A custom field name has no SendGrid field id (create the field, or refresh the field definitions)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:  # the bare name (KeyError would quote it), for messages like "custom field {e} ..."
        return self.name


def resolve_field_id(name: str, field_ids: Mapping[str, str]) -> str:
    """The id of a custom field: exact name first, then case-insensitively (SendGrid names are unique so)."""
    if name in field_ids:
        return field_ids[name]
    folded = name.casefold()
    for candidate, field_id in field_ids.items():
        if candidate.casefold() == folded:
            return field_id
    raise UnknownCustomField(name)


def contact_for_sendgrid(email: str, fields: Mapping[str, object], field_ids: Mapping[str, str]) -> dict:
    """Build and validate one contact for `PUT /v3/marketing/contacts`.

    `fields` maps contact field names to values (as in `MappedEvent.fields`, plus whatever the worker adds,
    e.g. lifetime_value; a Decimal there is written as a number). Email is the only identifier sent.
    Raises UnknownCustomField for a custom name missing from `field_ids`, and marshmallow's ValidationError
    when a value breaks SendGrid's rules (an invalid email, a value over its length limit).
    """
    contact: dict[str, object] = {"email": email.strip().lower()}
    custom: dict[str, object] = {}
    for name, value in fields.items():
        if isinstance(value, Decimal):
            value = to_number(value, name)[0]
        if name in RESERVED_LIMITS:
            contact[name] = value
        else:
            custom[resolve_field_id(name, field_ids)] = value
    if custom:
        contact["custom_fields"] = custom
    return CONTACT_SCHEMA.load(contact)
