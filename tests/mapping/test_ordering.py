"""newer_fields: the newest event wins each field; ties keep the stored value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mapping import newer_fields

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STORED = {"first_name": ("Ann", T0.isoformat()), "city": ("Berlin", "2024-05-01T15:00:00+02:00")}  # 13:00 UTC


@pytest.mark.parametrize(
    ("incoming", "at", "patch", "state"),
    [
        pytest.param(
            {"first_name": "Anna"},
            T0 + timedelta(seconds=1),
            {"first_name": "Anna"},
            {**STORED, "first_name": ("Anna", "2024-05-01T12:00:01+00:00")},
            id="newer wins",
        ),
        pytest.param({"first_name": "Old"}, T0 - timedelta(days=1), {}, STORED, id="older loses"),
        pytest.param({"first_name": "Same"}, T0, {}, STORED, id="tie keeps the stored value"),
        pytest.param(
            {"city": "Paris"},
            datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=1))),  # 13:00 UTC, the stored instant
            {},
            STORED,
            id="instants compared, not strings",
        ),
        pytest.param(
            {"last_page_url": "https://x.example"},
            T0 - timedelta(days=9),
            {"last_page_url": "https://x.example"},
            {**STORED, "last_page_url": ("https://x.example", "2024-04-22T12:00:00+00:00")},
            id="absent field is set",
        ),
        pytest.param(
            {"first_name": "Anna", "city": "Old"},
            datetime(2024, 5, 1, 12, 30),  # naive means UTC
            {"first_name": "Anna"},
            {**STORED, "first_name": ("Anna", "2024-05-01T12:30:00+00:00")},
            id="per field",
        ),
    ],
)
def test_newer_fields(incoming: dict, at: datetime, patch: dict, state: dict) -> None:
    assert newer_fields(STORED, incoming, at) == (patch, state)


def test_unreadable_stored_timestamp_counts_as_absent() -> None:
    patch, state = newer_fields({"city": ("Berlin", "garbage")}, {"city": "Paris"}, T0)
    assert (patch, state) == ({"city": "Paris"}, {"city": ("Paris", T0.isoformat())})


def test_current_is_not_mutated() -> None:
    current = dict(STORED)
    newer_fields(current, {"first_name": "Zed"}, T0 + timedelta(days=1))
    assert current == STORED
