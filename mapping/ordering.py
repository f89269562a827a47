"""Per-field ordering: a field keeps the value of the newest event that set it, whatever the arrival order.

Pure: the caller owns the state, a mapping of field name -> (value, ISO 8601 timestamp of the event that set
it). Ties go to the stored value: an event wins a field only when its timestamp is *strictly* later, so a
redelivered event is a no-op and, of two events with the same timestamp, the first one processed stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

FieldState = Mapping[str, tuple[object, str]]


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stored_at(entry: object) -> datetime | None:
    """The timestamp of a stored entry; None when it cannot be read (then the entry counts as absent)."""
    try:
        _value, iso = entry  # type: ignore[misc]
        return _as_utc(datetime.fromisoformat(iso))
    except (TypeError, ValueError, OverflowError):
        return None


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
