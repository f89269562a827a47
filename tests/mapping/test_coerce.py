"""Text / Number / Date coercion and the length limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mapping.coerce import describe, to_date, to_number, to_text


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("  Ann ", 50, ("Ann", [])),
        (True, 50, ("true", [])),
        (False, 50, ("false", [])),
        (42, 50, ("42", [])),
        (19.9, 50, ("19.9", [])),
        (Decimal("19.90"), 50, ("19.90", [])),
        (["a", 1, None], 50, ('["a",1,null]', [])),
        ({"k": "ü"}, 50, ('{"k":"ü"}', [])),
        (None, 50, (None, [])),
        ("   ", 50, (None, [])),
        ("x" * 51, 50, ("x" * 50, ["f cut from 51 to 50 characters"])),
        ("a\ud800b\x00c", 50, ("a\ufffdbc", ["f: invalid characters replaced"])),
        (float("nan"), 50, (None, ["f: nan is not a finite number; left out"])),
        ([float("inf")], 50, (None, ["f: a list cannot be written as JSON; left out"])),
        (object(), 50, (None, ["f: unsupported value type object; left out"])),
    ],
)
def test_to_text(value: object, limit: int, expected: tuple) -> None:
    assert to_text(value, "f", limit) == (expected[0], list(expected[1]))


def test_to_text_survives_deep_nesting() -> None:
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert to_text(deep, "f") == (None, ["f: a list cannot be written as JSON; left out"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, (5, [])),
        ("19.90", (19.9, [])),
        (" 5 ", (5, [])),
        ("-3e2", (-300, [])),
        (2.5, (2.5, [])),
        (Decimal("7.00"), (7, [])),
        (None, (None, [])),
        ("abc", (None, ["n: 'abc' is not a number; left out"])),
        ("1_000", (None, ["n: '1_000' is not a number; left out"])),
        ("NaN", (None, ["n: 'NaN' is not a number; left out"])),
        (float("inf"), (None, ["n: inf is not a number; left out"])),
        (True, (None, ["n: true is not a number; left out"])),
        ([1], (None, ["n: a list is not a number; left out"])),
        (10**20, (None, ["n: 100000000000000000000 is out of range; left out"])),
    ],
)
def test_to_number(value: object, expected: tuple) -> None:
    assert to_number(value, "n") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01", "05/01/2024"),
        ("2024-05-01T23:30:00-03:00", "05/02/2024"),  # the UTC date
        ("2024-05-01T12:00:00Z", "05/01/2024"),
        ("12/31/1999", "12/31/1999"),
        (1714597200, "05/01/2024"),  # epoch seconds
        (1714597200000, "05/01/2024"),  # epoch milliseconds
        ("0001-01-01", "01/01/0001"),  # the year is always four digits
    ],
)
def test_to_date(value: object, expected: str) -> None:
    assert to_date(value, "d") == (expected, [])


@pytest.mark.parametrize("value", ["someday", "13/45/2020", True, float("nan"), 10**30, "0001-01-01T00:00:00+01:00"])
def test_to_date_leaves_out_what_is_not_a_date(value: object) -> None:
    assert to_date(value, "d") == (None, [f"d: {describe(value)} is not a date; left out"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("foo", "'foo'"),
        ("x" * 50, "'" + "x" * 40 + "...'"),
        ("\ud800", "'\\ud800'"),
        (None, "null"),
        (True, "true"),
        ({}, "an object"),
        ([], "a list"),
        (1.5, "1.5"),
    ],
)
def test_describe_is_short_and_printable(value: object, expected: str) -> None:
    assert describe(value) == expected
