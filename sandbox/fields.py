"""Field definitions: SendGrid's reserved fields, an account's custom fields, and value checks.

Custom field ids are opaque and differ per account (``e1_T``, ``w1_T``, ``e53_D`` ...), so each
sandbox numbers them from its own offset: a client that hard-codes ids breaks here as it would live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

MAX_CUSTOM_FIELDS = 500
FIELD_TYPES = ("Text", "Number", "Date")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_US_DATE_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")

# (name, field_type, read_only). Identifiers are listed too: SendGrid reserves their names.
_RESERVED: tuple[tuple[str, str, bool], ...] = (
    ("first_name", "Text", False),
    ("last_name", "Text", False),
    ("email", "Text", False),
    ("alternate_emails", "Text", False),
    ("address_line_1", "Text", False),
    ("address_line_2", "Text", False),
    ("city", "Text", False),
    ("state_province_region", "Text", False),
    ("postal_code", "Text", False),
    ("country", "Text", False),
    ("phone_number", "Text", False),
    ("whatsapp", "Text", False),
    ("line", "Text", False),
    ("facebook", "Text", False),
    ("unique_name", "Text", False),
    ("external_id", "Text", False),
    ("anonymous_id", "Text", False),
    ("phone_number_id", "Text", False),
    ("created_at", "Date", True),
    ("updated_at", "Date", True),
)
RESERVED_FIELDS: tuple[dict, ...] = tuple(
    {"id": f"_rf{i}_{ftype[0]}", "name": name, "field_type": ftype, **({"read_only": True} if ro else {})}
    for i, (name, ftype, ro) in enumerate(_RESERVED)
)
RESERVED_NAMES = frozenset(name for name, _, _ in _RESERVED)
IDENTIFIERS = ("email", "phone_number_id", "external_id", "anonymous_id")
# Reserved keys a contact may carry at the top level, besides identifiers and custom_fields.
CONTACT_TEXT_FIELDS = tuple(
    name for name, _, ro in _RESERVED if not ro and name not in IDENTIFIERS and name != "alternate_emails"
)


class FieldError(ValueError):
    """A field definition was refused; ``field`` names the offending request key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CustomField:
    id: str
    name: str
    field_type: str

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "field_type": self.field_type}


class FieldRegistry:
    """The custom fields of one account. Not thread-safe: the state's lock guards it."""

    def __init__(self, first_number: int = 1) -> None:
        self._next = first_number
        self._by_id: dict[str, CustomField] = {}

    def create(self, name: object, field_type: object) -> CustomField:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise FieldError(
                "name",
                "name must be 1-100 letters, digits or underscores, starting with a letter or underscore",
            )
        if name.lower() in RESERVED_NAMES:
            raise FieldError("name", f"'{name}' is a reserved field name")
        if any(f.name.lower() == name.lower() for f in self._by_id.values()):
            raise FieldError("name", f"a field named '{name}' already exists")
        if field_type not in FIELD_TYPES:
            raise FieldError("field_type", "field_type must be one of Text, Number, Date")
        if len(self._by_id) >= MAX_CUSTOM_FIELDS:
            raise FieldError("name", f"an account may have at most {MAX_CUSTOM_FIELDS} custom fields")
        field = CustomField(f"e{self._next}_{field_type[0]}", name, field_type)
        self._next += 1
        self._by_id[field.id] = field
        return field

    def get(self, field_id: str) -> CustomField | None:
        return self._by_id.get(field_id)

    def all(self) -> list[CustomField]:
        return list(self._by_id.values())

    def clear(self) -> None:
        self._by_id.clear()


def coerce_custom(field: CustomField, value: object) -> object:
    """Return ``value`` as SendGrid would store it in ``field``; raise ValueError when it does not fit.

    Liberal where SendGrid is unconfirmed: numeric strings fit a Number, numbers fit a Text,
    ``null`` clears the value. Booleans, arrays and objects never fit (integrators stringify them).
    """
    if value is None:
        return None
    if isinstance(value, bool | list | dict):
        raise ValueError(f"{type(value).__name__} values are not accepted")
    if field.field_type == "Text":
        return value if isinstance(value, str) else str(value)
    if field.field_type == "Number":
        return _as_number(value)
    return _as_date(value)


def _as_number(value: object) -> int | float:
    if isinstance(value, int | float):
        return value
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"'{value}' is not a number") from None
    return int(number) if number.is_integer() else number


def _as_date(value: object) -> str:
    """Accept ``MM/DD/YYYY`` (SendGrid's docs) and ISO 8601 (some clients); store ISO in UTC."""
    text = str(value).strip()
    if match := _US_DATE_RE.match(text):
        month, day, year = (int(part) for part in match.groups())
        try:
            return date(year, month, day).strftime("%Y-%m-%dT00:00:00Z")
        except ValueError:
            raise ValueError(f"'{value}' is not a date") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{value}' is not a date (MM/DD/YYYY or ISO 8601)") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")
