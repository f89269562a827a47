"""event_time: an event dated more than the allowed skew after its arrival takes its arrival as its time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mapping import DEFAULT_MAX_CLOCK_SKEW, MappingConfig, event_time, map_event, newer_fields

ARRIVED = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
FAR = datetime(2999, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("claimed", "skew", "expected"),
    [
        pytest.param(None, DEFAULT_MAX_CLOCK_SKEW, (ARRIVED, None), id="no timestamp: the arrival, nothing clamped"),
        pytest.param(ARRIVED - 300 * 24 * HOUR, DEFAULT_MAX_CLOCK_SKEW, (ARRIVED - 300 * 24 * HOUR, None), id="past"),
        pytest.param(ARRIVED + 23 * HOUR, DEFAULT_MAX_CLOCK_SKEW, (ARRIVED + 23 * HOUR, None), id="within the skew"),
        pytest.param(ARRIVED + 24 * HOUR, DEFAULT_MAX_CLOCK_SKEW, (ARRIVED + 24 * HOUR, None), id="at the skew"),
        pytest.param(
            ARRIVED + 24 * HOUR + timedelta(microseconds=1),
            DEFAULT_MAX_CLOCK_SKEW,
            (ARRIVED, ARRIVED + 24 * HOUR + timedelta(microseconds=1)),
            id="just past the skew: clamped",
        ),
        pytest.param(FAR, DEFAULT_MAX_CLOCK_SKEW, (ARRIVED, FAR), id="2999: clamped"),
        pytest.param(ARRIVED + 2 * HOUR, HOUR, (ARRIVED, ARRIVED + 2 * HOUR), id="a smaller skew setting"),
        pytest.param(
            datetime(2026, 12, 10, 5, 0, tzinfo=timezone(timedelta(hours=5))),  # 00:00 UTC on the 10th
            DEFAULT_MAX_CLOCK_SKEW,
            (ARRIVED, datetime(2026, 12, 10, tzinfo=UTC)),
            id="offsets compared as instants, the claim kept in UTC",
        ),
    ],
)
def test_event_time(claimed: datetime | None, skew: timedelta, expected: tuple) -> None:
    assert event_time(claimed, ARRIVED, skew) == expected


def test_naive_times_are_utc() -> None:
    assert event_time(FAR.replace(tzinfo=None), ARRIVED.replace(tzinfo=None)) == (ARRIVED, FAR)


def identify(message_id: str, stamp: str, first_name: str) -> dict:
    traits = {"email": "ada@example.com", "first_name": first_name}
    return {"messageId": message_id, "type": "identify", "userId": "u1", "timestamp": stamp, "traits": traits}


def test_a_present_identify_sent_after_one_dated_2999_wins_the_field() -> None:
    """The attack of issue 21, in the pure layer: the clamped identify's clock is its arrival, so an identify
    sent a minute later with an honest timestamp is newer."""
    hacked = map_event(identify("m1", "2999-01-01T00:00:00Z", "HACKED"), MappingConfig(), ARRIVED)
    later = ARRIVED + timedelta(minutes=1)
    real = map_event(identify("m2", later.isoformat(), "Ada"), MappingConfig(), later + timedelta(seconds=1))
    assert (hacked.timestamp, hacked.clock_clamped_from) == (ARRIVED, FAR)
    assert real.clock_clamped_from is None
    _patch, state = newer_fields({}, hacked.fields, hacked.timestamp)
    patch, state = newer_fields(state, real.fields, real.timestamp)
    assert patch == {"first_name": "Ada", "signal_user_id": "u1"}
    assert state["first_name"][0] == "Ada"


def test_map_event_takes_the_skew_it_is_given() -> None:
    event = identify("m1", (ARRIVED + 2 * HOUR).isoformat(), "Ada")
    assert map_event(event, MappingConfig(), ARRIVED).timestamp == ARRIVED + 2 * HOUR
    assert map_event(event, MappingConfig(), ARRIVED, max_skew=HOUR).timestamp == ARRIVED
