"""The numbers an event body may hold, checked once at the door: ingest, `POST /v1/events` and `publish`.

JSON puts no bound on a number, PostgreSQL's JSONB keeps it exactly, and Python reads it back as it is: a body
with `0.1e99999` was stored as a 100,000-digit integer that raised on every later load of its batch. So every
body is parsed with these limits, the rule written here once:

- no `NaN`, `Infinity` or `-Infinity` (not JSON; Python's parser takes them);
- an integer has at most MAX_INTEGER_DIGITS digits (beyond 128 bits is no id, count or amount);
- a number with a fraction or an exponent is a finite 64-bit float (|x| < 1.8e308) that does not underflow to 0
  (`1e-400`), written in at most MAX_NUMBER_CHARS characters.
"""

from __future__ import annotations

import json
import math
import re

MAX_INTEGER_DIGITS = 40
MAX_NUMBER_CHARS = 100
_NONZERO_MANTISSA = re.compile(r"^-?[0-9.]*[1-9]")


class NumberRefused(ValueError):
    """A number outside the limits; the message names it (shortened) and the limit."""


def _shown(literal: str) -> str:
    return literal if len(literal) <= 24 else f"{literal[:12]}...{literal[-8:]} ({len(literal)} characters)"


def _integer(literal: str) -> int:
    digits = len(literal) - literal.startswith("-")
    if digits > MAX_INTEGER_DIGITS:
        raise NumberRefused(f"integer {_shown(literal)} has {digits} digits (at most {MAX_INTEGER_DIGITS})")
    return int(literal)


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise NumberRefused(f"number {_shown(literal)} is too long (at most {MAX_NUMBER_CHARS} characters)")
    value = float(literal)
    if not math.isfinite(value):
        raise NumberRefused(f"number {_shown(literal)} is out of range (beyond ±1.8e308)")
    if value == 0.0 and _NONZERO_MANTISSA.match(literal):
        raise NumberRefused(f"number {_shown(literal)} is too small (it rounds to 0; at least 5e-324)")
    return value


def _constant(name: str) -> float:
    raise NumberRefused(f"{name} is not valid JSON")


# One decoder for every body: json.loads with options builds a new JSONDecoder on each call.
DECODER = json.JSONDecoder(parse_float=_float, parse_int=_integer, parse_constant=_constant)


def loads(data: str | bytes) -> object:
    """json.loads with the limits: JSONDecodeError for what is not JSON, NumberRefused for a number beyond them
    (both ValueError), UnicodeDecodeError for bytes that are not text."""
    if isinstance(data, bytes | bytearray):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    return DECODER.decode(data)
