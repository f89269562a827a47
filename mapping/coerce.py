"""Value coercion for SendGrid contact fields: Text, Number and Date, plus the length limits; the standard
(reserved) contact fields take text only.

Each coercer takes any JSON value and returns `(value, note)`: the value ready for SendGrid (or None when the
field must be left out) and a human note when something was cut, replaced or dropped. Coercers never raise.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

# Reserved contact fields this mapping writes, with SendGrid's documented maximum lengths (characters).
# postal_code and phone_number have no figure in SendGrid's spec; 60 and 50 are this project's choice.
RESERVED_LIMITS: dict[str, int] = {
    "first_name": 50,
    "last_name": 50,
    "phone_number": 50,
    "address_line_1": 100,
    "city": 60,
    "state_province_region": 50,
    "postal_code": 60,
    "country": 50,
}
EMAIL_MAX_LENGTH = 254
# SendGrid documents no exact maximum for custom Text field values; 1000 characters is a conservative cap.
CUSTOM_TEXT_LIMIT = 1000
# SendGrid stores Number fields as floats: beyond 2**53 integers lose precision, so such values are dropped.
NUMBER_MAX_ABS = 2**53
# Numeric strings longer than this are not numbers anyone meant to send (and keep Decimal parsing cheap).
_NUMERIC_STRING_MAX = 64
_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_US_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
# Epoch numbers above this are taken as milliseconds (10**11 s is the year 5138).
_EPOCH_MS_THRESHOLD = 10**11

FIELD_TYPES = ("Text", "Number", "Date")


def describe(value: object, limit: int = 40) -> str:
    """A short, printable, UTF-8-safe rendering of an input value for reasons and notes."""
    if isinstance(value, str):
        shown = repr(value[:limit])  # repr escapes lone surrogates and control characters
        return shown if len(value) <= limit else shown[:-1] + "...'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        text = str(value)
        return text if len(text) <= limit else text[:limit] + "..."
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


def clean_text(text: str) -> tuple[str, bool]:
    """Replace lone surrogates with U+FFFD and drop NUL (neither survives UTF-8 JSON or PostgreSQL)."""
    cleaned = _SURROGATE.sub("\ufffd", text).replace("\x00", "")
    return cleaned, cleaned != text


def has_invalid_characters(text: str) -> bool:
    return clean_text(text)[1]


def to_text(value: object, name: str, limit: int = CUSTOM_TEXT_LIMIT) -> tuple[str | None, list[str]]:
    """Text: strings as given (trimmed), numbers as written, booleans "true"/"false", lists/objects as JSON."""
    notes: list[str] = []
    if value is None:
        return None, notes
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float | Decimal):
        if not _finite(value):
            return None, [f"{name}: {describe(value)} is not a finite number; left out"]
        text = str(value)
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list | dict):
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (ValueError, TypeError, RecursionError):
            return None, [f"{name}: {describe(value)} cannot be written as JSON; left out"]
    else:
        return None, [f"{name}: unsupported value type {type(value).__name__}; left out"]
    text, replaced = clean_text(text)
    if replaced:
        notes.append(f"{name}: invalid characters replaced")
    text = text.strip()
    if not text:
        return None, notes
    if len(text) > limit:
        notes.append(f"{name} cut from {len(text)} to {limit} characters")
        text = text[:limit]
    return text, notes


def to_standard_text(value: object, name: str, path: str) -> tuple[str | None, list[str]]:
    """A standard contact field (first_name, city, phone_number, ...: the keys of RESERVED_LIMITS) is Text, but a
    list or an object is refused, with a note naming the trait (`path`), instead of being written as JSON: no
    name, phone or city is `[]` or `{"a":1}`, and SendGrid would show that text as one. Custom Text fields keep
    to_text's JSON."""
    if isinstance(value, list | dict):
        return None, [f"{path}: expected text, got {describe(value)}; {name} left out"]
    return to_text(value, name, RESERVED_LIMITS[name])


def parse_decimal(value: object) -> Decimal | None:
    """A finite Decimal from an int, float, Decimal or numeric string ("19.90", " 5 "); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None  # repr: 19.9 stays 19.9
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > _NUMERIC_STRING_MAX or not _NUMERIC.fullmatch(text):
            return None
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
            return None
    return None


def to_number(value: object, name: str) -> tuple[int | float | None, list[str]]:
    """Number: an int when integral, else a float; non-numbers, NaN/Infinity and huge values are left out."""
    if value is None:
        return None, []
    number = parse_decimal(value)
    if number is None:
        return None, [f"{name}: {describe(value)} is not a number; left out"]
    if abs(number) > NUMBER_MAX_ABS:
        return None, [f"{name}: {describe(value)} is out of range; left out"]
    if number == number.to_integral_value():
        return int(number), []
    return float(number), []


def format_date(moment: date) -> str:
    """SendGrid's documented contact date format, MM/DD/YYYY (zero-padded; year always 4 digits)."""
    return f"{moment.month:02d}/{moment.day:02d}/{moment.year:04d}"


def parse_timestamp(value: str) -> datetime | None:
    """An ISO 8601 string as an aware UTC datetime (naive means UTC); None when it is not one."""
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def to_date(value: object, name: str) -> tuple[str | None, list[str]]:
    """Date: ISO 8601 strings, MM/DD/YYYY strings and epoch numbers (seconds, or ms) -> MM/DD/YYYY (UTC)."""
    if value is None:
        return None, []
    problem = [f"{name}: {describe(value)} is not a date; left out"]
    if isinstance(value, str):
        text = value.strip()
        if match := _US_DATE.fullmatch(text):
            month, day, year = (int(part) for part in match.groups())
            try:
                return format_date(date(year, month, day)), []
            except ValueError:
                return None, problem
        moment = parse_timestamp(text) if len(text) <= _NUMERIC_STRING_MAX else None
        return (format_date(moment), []) if moment else (None, problem)
    number = None if isinstance(value, str) else parse_decimal(value)
    if number is None:
        return None, problem
    seconds = number / 1000 if abs(number) >= _EPOCH_MS_THRESHOLD else number
    try:
        return format_date(datetime.fromtimestamp(float(seconds), tz=UTC)), []
    except (ValueError, OverflowError, OSError):
        return None, problem


def coerce(value: object, field_type: str, name: str, limit: int = CUSTOM_TEXT_LIMIT) -> tuple[object, list[str]]:
    """Dispatch on a SendGrid field type ("Text", "Number" or "Date")."""
    if field_type == "Number":
        return to_number(value, name)
    if field_type == "Date":
        return to_date(value, name)
    return to_text(value, name, limit)


def _finite(value: float | Decimal) -> bool:
    return value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
