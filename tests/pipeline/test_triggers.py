"""Which processing tries are counted: ingest's trigger on its first delivery is not, a redelivered one is, and
the sweep's re-triggers are. The count is what sets a poison event aside (tests/reliability/test_poison.py)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from models import Event, EventStatus
from tests.factories import identify
from workers import tasks
from workers.ingest.inbox import Incoming, store_events
from workers.processing.sweep import SweepResult

pytestmark = pytest.mark.integration


@pytest.fixture
def stored(db, monkeypatch) -> list[int]:
    monkeypatch.setattr(tasks, "sessions", lambda: db)
    events = [{**identify(f"t{i}@example.com", f"u{i}"), "messageId": f"t{i}"} for i in range(3)]
    with db.begin() as session:
        return store_events(session, [Incoming(json.dumps(e).encode()) for e in events])


def run_trigger(event_ids: list[int], fresh: bool, redelivered: bool) -> None:
    """The task body as the worker runs it for a message with this delivery flag."""
    tasks.process_events_task.push_request(delivery_info={"redelivered": redelivered})
    try:
        tasks.process_events_task.run(event_ids, fresh=fresh)
    finally:
        tasks.process_events_task.pop_request()


def tries(db) -> dict[str, tuple[EventStatus, int]]:
    with db() as session:
        return {e.message_id: (e.status, e.process_attempts) for e in session.scalars(select(Event))}


@pytest.mark.parametrize(
    ("fresh", "redelivered", "counted"),
    [
        (True, False, 0),  # ingest's trigger, first delivery: the try is not written down
        (True, True, 1),  # the same trigger back after its worker died: counted from now on
        (False, False, 1),  # the sweep's re-trigger
    ],
)
def test_a_trigger_counts_its_try_unless_it_is_ingests_first_delivery(db, stored, fresh, redelivered, counted):
    run_trigger(stored, fresh, redelivered)
    assert tries(db) == {f"t{i}": (EventStatus.PROCESSED, counted) for i in range(3)}


def test_ingest_triggers_fresh_and_the_sweep_does_not(db, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.process_events_task, "apply_async", lambda args, kwargs, **options: sent.append(kwargs))
    monkeypatch.setattr(tasks, "sessions", lambda: db)
    found = SweepResult(events_to_process=[3])
    monkeypatch.setattr(tasks, "sweep", lambda *args, **kwargs: found)
    tasks.trigger_processing([1, 2])  # what ingest calls
    tasks.sweep_task.run()
    assert sent == [{"fresh": True}, {"fresh": False}]
