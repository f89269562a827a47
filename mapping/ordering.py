"""Per-field ordering: a field keeps the value of the newest event that set it, whatever the arrival order.

Pure: the caller owns the state, a mapping of field name -> (value, ISO 8601 timestamp of the event that set
it). Ties go to the stored value: an event wins a field only when its timestamp is *strictly* later, so a
redelivered event is a no-op and, of two events with the same timestamp, the first one processed stays.

An event's time is the one it claims, bounded by its arrival: `event_time` takes an event dated more than the
allowed clock skew after it arrived at its arrival time, so a timestamp in the future (`2999-01-01`) cannot
outrank every event sent after it. The same bounded time orders fields, consent, identity links and orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

FieldState = Mapping[str, tuple[object, str]]
DEFAULT_MAX_CLOCK_SKEW = timedelta(hours=24)  # SIGNAL_MAX_CLOCK_SKEW_HOURS


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stored_at(entry: object) -> datetime | None:
    """The timestamp of a stored entry; None when it cannot be read (then the entry counts as absent)."""
    try:
        _value, iso = entry  # type: ignore[misc]
        return _as_utc(datetime.fromisoformat(iso))
    except (TypeError, ValueError, OverflowError):
        return None


def event_time(
    claimed: datetime | None, received_at: datetime, max_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW
) -> tuple[datetime, datetime | None]:
    """(the time an event's clocks use, the timestamp it claimed when that was clamped, else None).

    No timestamp: the arrival. A timestamp more than `max_skew` after the arrival: the arrival, and the claim is
    returned to be recorded. Any other timestamp (the past, or the future within the skew) is the event's time.
    Naive datetimes are taken as UTC.
    """
    received_at = _as_utc(received_at)
    if claimed is None:
        return received_at, None
    claimed = _as_utc(claimed)
    if claimed - received_at > max_skew:
        return received_at, claimed
    return claimed, None


def newer_fields(
    current: FieldState, incoming: Mapping[str, object], at: datetime
) -> tuple[dict[str, object], dict[str, tuple[object, str]]]:
    """(patch, new state): the incoming fields whose event at `at` is strictly newer than the stored one.

    Naive datetimes are taken as UTC. Stored timestamps are compared as instants, not as strings.
    """
    return _merge(current, incoming, at)


def _merge(
    current: FieldState, incoming: Mapping[str, object], at: datetime
) -> tuple[dict[str, object], dict[str, tuple[object, str]]]:
    at = _as_utc(at)
    stamp = at.isoformat()
    state = dict(current)
    patch: dict[str, object] = {}
    for name, value in incoming.items():
        stored_at = _stored_at(current[name]) if name in current else None
        if stored_at is None or at > stored_at:
            patch[name] = value
            state[name] = (value, stamp)
    return patch, state
