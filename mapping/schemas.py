"""marshmallow schemas of the incoming Datafly event (lenient); the outgoing contact's is in `mapping.contact`.

`BaseSchema` fixes the conventions: unknown keys are ignored unless a schema keeps them, a missing required
field reads "missing", and `load_or_errors` never raises but returns the valid part plus the problems as
"path: what is wrong" strings a person can act on. Custom fields raise messages written for people too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from marshmallow import EXCLUDE, INCLUDE, Schema, ValidationError, fields, validate

from mapping.coerce import (
    EMAIL_MAX_LENGTH,
    describe,
    has_invalid_characters,
    parse_decimal,
    parse_timestamp,
)

EVENT_TYPES = ("identify", "page", "track", "screen", "group", "alias")
MESSAGE_ID_MAX_LENGTH = 200
# Ids are lookup keys: cutting one would merge two people, so a longer id rejects the event instead.
ID_MAX_LENGTH = 200  # userId, anonymousId, order_id: what the inbox, identity and order columns hold
# Orders above this are taken as broken input rather than revenue (and keep sums far from float limits).
REVENUE_MAX_ABS = Decimal(10) ** 12
_TIMESTAMP_MAX_LENGTH = 64


class _DeliverableEmail(validate.Email):
    DOMAIN_WHITELIST = ()  # marshmallow accepts user@localhost; SendGrid cannot deliver there


DELIVERABLE_EMAIL = _DeliverableEmail()


class BaseSchema(Schema):
    """Conventions shared by every schema in this package."""

    class Meta:
        unknown = EXCLUDE

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.error_messages = {**field_obj.error_messages, "required": "missing", "null": "missing"}

    def load_or_errors(self, data: object, prefix: str = "") -> tuple[dict, list[str]]:
        """Load `data`; return (valid data, problems). Problems are 'path: message' strings, path under prefix."""
        if not isinstance(data, Mapping):
            where = f"{prefix}: expected an object" if prefix else "payload: expected a JSON object"
            return {}, [f"{where}, got {describe(data)}"]
        try:
            return self.load(data), []
        except ValidationError as error:
            valid = error.valid_data if isinstance(error.valid_data, dict) else {}
            return valid, flatten_errors(error.messages, prefix)


def flatten_errors(messages: object, prefix: str = "") -> list[str]:
    """marshmallow's nested error dict -> ["traits.email: 'foo' is not a valid email", ...]."""
    if isinstance(messages, Mapping):
        out: list[str] = []
        for key, value in messages.items():
            path = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
            out.extend(flatten_errors(value, path))
        return out
    if isinstance(messages, list):
        return [f"{prefix or 'payload'}: {message}" for message in messages if isinstance(message, str)]
    return [f"{prefix or 'payload'}: {messages}"]


def normalize_email(value: object) -> str | None:
    """Strip, lower-case and validate an email address; None when it is not a usable one."""
    try:
        return EmailAddress().deserialize(value)
    except ValidationError:
        return None


class EmailAddress(fields.Field):
    """An email, trimmed and lower-cased. Empty means absent; longer than 254 characters is an error."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(allow_none=True, load_default=None, **kwargs)

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> str | None:
        if not isinstance(value, str):
            raise ValidationError(f"expected a string, got {describe(value)}")
        email = value.strip().lower()
        if not email:
            return None
        if len(email) > EMAIL_MAX_LENGTH:
            raise ValidationError(f"longer than {EMAIL_MAX_LENGTH} characters")
        if has_invalid_characters(email):
            raise ValidationError(f"{describe(value)} contains characters that are not valid text")
        try:
            DELIVERABLE_EMAIL(email)
        except ValidationError as error:
            raise ValidationError(f"{describe(value)} is not a valid email") from error
        return email


class MessageId(fields.Field):
    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> str:
        problem = f"must be a non-empty string of at most {MESSAGE_ID_MAX_LENGTH} characters"
        if not isinstance(value, str) or not value.strip() or len(value) > MESSAGE_ID_MAX_LENGTH:
            raise ValidationError(f"{problem}, got {describe(value)}")
        if has_invalid_characters(value):
            raise ValidationError(f"{describe(value)} contains characters that are not valid text")
        return value


class EventType(fields.Field):
    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> str:
        if isinstance(value, str) and value.strip().lower() in EVENT_TYPES:
            return value.strip().lower()
        raise ValidationError(f"{describe(value)} is not one of {', '.join(EVENT_TYPES)}")


class Identifier(fields.Field):
    """userId / anonymousId / order_id: a string (numbers accepted and written as text); empty means absent."""

    def __init__(self, **kwargs: object) -> None:
        if not kwargs.get("required"):
            kwargs.setdefault("load_default", None)
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ValidationError(f"expected a string, got {describe(value)}")
        if not value.strip():
            return None
        if len(value) > ID_MAX_LENGTH:
            raise ValidationError(f"longer than {ID_MAX_LENGTH} characters")
        if has_invalid_characters(value):
            raise ValidationError(f"{describe(value)} contains characters that are not valid text")
        return value


class Timestamp(fields.Field):
    """ISO 8601 -> aware UTC datetime; naive timestamps are taken as UTC."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(allow_none=True, load_default=None, **kwargs)

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> datetime:
        moment = None
        if isinstance(value, str) and len(value) <= _TIMESTAMP_MAX_LENGTH:
            moment = parse_timestamp(value)
        if moment is None:
            raise ValidationError(f"not an ISO 8601 date: {describe(value)}")
        return moment


_CONSENT_WORDS = {"true": True, "granted": True, "false": False, "denied": False}


def consent_flag(value: object) -> bool:
    """A consent state: JSON booleans, or the strings true/false/granted/denied (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _CONSENT_WORDS:
        return _CONSENT_WORDS[value.strip().lower()]
    raise ValidationError(f"expected true or false, got {describe(value)}")


class Money(fields.Field):
    """An amount as a Decimal, exactly as given ("19.90" stays 19.90); numeric strings accepted."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(allow_none=True, load_default=None, **kwargs)

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> Decimal:
        amount = parse_decimal(value)
        if amount is None:
            raise ValidationError(f"{describe(value)} is not a number")
        if abs(amount) > REVENUE_MAX_ABS:
            raise ValidationError(f"{describe(value)} is out of range")
        return amount


class Object(fields.Dict):
    """A JSON object kept as given (shallow copy); null means absent."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(allow_none=True, load_default=None, **kwargs)

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> dict:
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected an object, got {describe(value)}")
        return dict(value)


class Context(fields.Field):
    """`context`, as far as the mapping reads it: `page` (an object) and `consent.marketing` (a consent flag).

    One field rather than nested schemas: every SDK event carries a context, and loading two nested schemas
    per event was a third of the envelope's load time (docs/performance.md). Problems keep their nested path
    (`context.consent.marketing: ...`), and what is valid is kept beside them, as a nested schema would.
    context.traits is read from the payload and loaded with TraitsSchema by the rules.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(allow_none=True, load_default=None, **kwargs)

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> dict:
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected an object, got {describe(value)}")
        valid: dict = {"page": None, "consent": None}
        errors: dict = {}
        page, consent = value.get("page"), value.get("consent")
        if isinstance(page, Mapping):
            valid["page"] = dict(page)
        elif page is not None:
            errors["page"] = [f"expected an object, got {describe(page)}"]
        if isinstance(consent, Mapping):
            valid["consent"] = {"marketing": None}
            if consent.get("marketing") is not None:
                try:
                    valid["consent"]["marketing"] = consent_flag(consent["marketing"])
                except ValidationError as error:
                    errors["consent"] = {"marketing": error.messages}
                    valid["consent"] = {}
        elif consent is not None:
            errors["consent"] = [f"expected an object, got {describe(consent)}"]
        if errors:
            raise ValidationError(errors, valid_data=valid)
        return valid


class EventSchema(BaseSchema):
    """The Datafly event envelope. `event`, `traits` and `properties` are not fields here: the mapping reads them
    from the payload, and each kind validates what it reads."""

    message_id = MessageId(data_key="messageId", required=True)
    type = EventType(required=True)
    timestamp = Timestamp()
    user_id = Identifier(data_key="userId")
    anonymous_id = Identifier(data_key="anonymousId")
    context = Context()
    integrations = Object()


class TraitsSchema(BaseSchema):
    """identify `traits` or `context.traits`: the email is checked, every other trait is kept as given."""

    class Meta:
        unknown = INCLUDE

    email = EmailAddress()


class OrderPropertiesSchema(BaseSchema):
    class Meta:
        unknown = INCLUDE

    order_id = Identifier(required=True)
    revenue = Money()
    total = Money()


# Schemas hold no per-call state (marshmallow 4 has no context), and building one deep-copies its declared
# fields: one instance each serves every call.
EVENT_SCHEMA = EventSchema()
TRAITS_SCHEMA = TraitsSchema()
ORDER_PROPERTIES_SCHEMA = OrderPropertiesSchema()
