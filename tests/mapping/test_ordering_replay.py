"""replayable_fields: a replay may re-send its own values, never overwrite a newer event's."""

from datetime import UTC, datetime

from mapping import newer_fields, replayable_fields

T1 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 1, 13, 0, tzinfo=UTC)


def test_a_replay_keeps_its_own_values_and_loses_to_newer_ones():
    _, state = newer_fields({}, {"first_name": "Ann", "city": "Berlin"}, T1)
    _, state = newer_fields(state, {"city": "Paris"}, T2)
    patch, new_state = replayable_fields(state, {"first_name": "Ann", "city": "Berlin", "plan": "gold"}, T1)
    assert patch == {"first_name": "Ann", "plan": "gold"}
    assert new_state["city"] == ("Paris", T2.isoformat())
    assert new_state["plan"] == ("gold", T1.isoformat())
    assert newer_fields(state, {"first_name": "Ann"}, T1)[0] == {}
