"""Issue #7, poison messages: an event whose processing crashes every time is set aside after a bounded number of
tries, with its error, and the rest keeps flowing; also when the crash kills the worker process, when two batches
contend for the same contacts, and when one event breaks its batch's write.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DataError

import workers.processing.process as processing
from models import Delivery, DeliveryStatus, Event, EventStatus, delivery_rows
from tests.factories import IntegrationFactory, event, identify
from tests.fixtures.processes import ROOT
from workers.ingest.inbox import Incoming, store_events
from workers.processing import store
from workers.processing.sweep import sweep

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def integration_id(factories) -> int:
    return IntegrationFactory().id


def stored(db, events: list[dict]) -> list[int]:
    with db.begin() as session:
        return store_events(session, [Incoming(json.dumps(e).encode()) for e in events])


def by_message(db) -> dict[str, Event]:
    with db() as session:
        return {e.message_id: e for e in session.scalars(select(Event))}


def sweep_round(db) -> list[int]:
    """What the beat's sweep would hand to process_events (lost_after=0: no need to wait 30 s here)."""
    with db.begin() as session:
        return sweep(session, lost_after=timedelta(0)).events_to_process


@pytest.mark.parametrize("first_trigger", ["fresh", "counted"])
def test_an_event_that_crashes_processing_every_time_is_set_aside_and_the_rest_flows(
    db, integration_id, monkeypatch, figures, first_trigger
):
    real = processing.plan_event  # the per-event step of a batch (map_event itself never raises, by contract)

    def plan_event(batch, event, *rest):
        if event.message_id == "poison":
            raise RuntimeError("planning exploded on this payload")
        return real(batch, event, *rest)

    monkeypatch.setattr(processing, "plan_event", plan_event)
    batches = [
        [identify(f"p{n}-{i}@example.com", f"pu-{n}-{i}") for i in range(20)]
        + ([event("page", messageId="poison", userId="x", properties={"url": "https://x.example"})] if n == 0 else [])
        for n in range(4)
    ]
    ids = stored(db, batches[0])
    tries = 0
    for n in range(
        processing.MAX_PROCESS_ATTEMPTS + 3
    ):  # the first trigger, then the sweep every round; a new batch arrives meanwhile
        # ingest's trigger is fresh: its try is not counted, the sweep's are
        processing.process_events(db, ids, fresh=n == 0 and first_trigger == "fresh")
        tries += 1
        if n + 1 < len(batches):
            stored(db, batches[n + 1])
        ids = sweep_round(db)
        if not ids:
            break
    events = by_message(db)
    poison = events.pop("poison")
    figures.update(
        max_process_attempts=processing.MAX_PROCESS_ATTEMPTS,
        poison_attempts=poison.process_attempts,
        processing_rounds=tries,
        others_processed=sum(e.status == EventStatus.PROCESSED for e in events.values()),
        others=len(events),
    )
    assert poison.status == EventStatus.FAILED
    assert poison.process_attempts == processing.MAX_PROCESS_ATTEMPTS
    assert tries == processing.MAX_PROCESS_ATTEMPTS + (first_trigger == "fresh")
    crashed = f"processing crashed {processing.MAX_PROCESS_ATTEMPTS} times: RuntimeError: planning exploded"
    assert crashed in poison.reason
    assert all(e.status == EventStatus.PROCESSED for e in events.values())  # its batch-mates were not held back
    assert sweep_round(db) == []  # set aside: the sweep no longer picks it up
    with db() as session:
        queued = session.scalars(select(Delivery.status)).all()
    assert len(queued) == 20 * len(batches) and set(queued) == {DeliveryStatus.QUEUED}


KILLER = """
import os, signal, sys
import workers.processing.batch as batch
import workers.processing.process as processing
from models.db import make_engine, session_factory

real = batch.map_event  # what Batch.map calls for each event

def map_event(payload, *args, **kwargs):
    if payload.get("messageId") == "killer":
        os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies: no exception, no rollback handler
    return real(payload, *args, **kwargs)

batch.map_event = map_event
sessions = session_factory(make_engine(sys.argv[1]))
processing.process_events(sessions, [int(i) for i in sys.argv[3:]], fresh=sys.argv[2] == "fresh")
"""


@pytest.mark.usefixtures("committed_db")  # a killed process of its own reads the events
@pytest.mark.parametrize("first_trigger", ["fresh", "counted"])
def test_an_event_that_kills_the_worker_is_set_aside_after_bounded_tries(
    db, pg_url, integration_id, figures, first_trigger
):
    events = [identify(f"k{i}@example.com", f"ku-{i}") for i in range(10)]
    events.insert(5, event("page", messageId="killer", userId="x", properties={"url": "https://x.example"}))
    ids = stored(db, events)
    crashes = 0
    for n in range(processing.MAX_PROCESS_ATTEMPTS + 5):  # ingest's trigger, its redeliveries, then sweeps
        fresh = n == 0 and first_trigger == "fresh"
        ids = ids if fresh else sweep_round(db)
        if not ids:
            break
        run = [sys.executable, "-c", KILLER, pg_url, "fresh" if fresh else "counted", *map(str, ids)]
        crashes += subprocess.run(run, cwd=ROOT, timeout=60).returncode == -9
        if fresh:  # the try that died was not counted: its trigger comes back redelivered, and counts
            assert {e.process_attempts for e in by_message(db).values()} == {0}
    found = by_message(db)
    killer = found.pop("killer")
    figures.update(
        worker_deaths=crashes,
        killer_status=str(killer.status),
        killer_attempts=killer.process_attempts,
        batch_mates_processed=sum(e.status == EventStatus.PROCESSED for e in found.values()),
        batch_mates=len(found),
    )
    assert crashes <= processing.MAX_PROCESS_ATTEMPTS + (first_trigger == "fresh")
    assert killer.status == EventStatus.FAILED and killer.reason
    assert all(e.status == EventStatus.PROCESSED for e in found.values())


@pytest.mark.usefixtures("committed_db")  # two threads' sessions deadlock on real locks
def test_a_deadlock_is_not_a_processing_crash(db, integration_id, monkeypatch, figures):
    real = store.lock_contacts  # what a batch locks its contacts with
    barrier = threading.Barrier(2, timeout=3)
    crossing: set[int] = set()

    def lock_contacts(session, keys):
        contacts = real(session, keys)
        if threading.get_ident() in crossing:  # both batches hold their contacts, then wait for each other
            crossing.discard(threading.get_ident())
            with contextlib.suppress(threading.BrokenBarrierError):  # a fixed lock order never gets here twice
                barrier.wait()
        return contacts

    monkeypatch.setattr(store, "lock_contacts", lock_contacts)
    a = stored(db, [identify("ann@example.com", "ann", 0), identify("bob@example.com", "bob", 0)])
    b = stored(db, [identify("bob@example.com", "bob", 1), identify("ann@example.com", "ann", 1)])
    errors: list[str] = []

    def run(ids: list[int]) -> None:
        crossing.add(threading.get_ident())
        try:
            processing.process_events(db, ids)
        except Exception as e:  # a batch that aborts as a whole is fine: its trigger or the sweep retries it
            errors.append(type(e).__name__)

    threads = [threading.Thread(target=run, args=(ids,)) for ids in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    events = by_message(db).values()
    counted = [e.id for e in events if e.status == EventStatus.RECEIVED and e.process_attempts > 0]
    for _ in range(processing.MAX_PROCESS_ATTEMPTS):  # then the sweep, one batch at a time
        processing.process_events(db, sweep_round(db))
    events = by_message(db).values()
    figures.update(
        batch_errors=errors,
        deadlocks_counted_as_crashes=len(counted),
        final_statuses=sorted(str(e.status) for e in events),
    )
    assert not counted, f"a deadlock was counted as a processing crash of events {counted}"
    assert all(e.status == EventStatus.PROCESSED for e in events)


def test_one_event_that_breaks_the_batch_write_does_not_take_its_batch_mates_down(db, integration_id, figures):
    events = [identify(f"w{i}@example.com", f"wu-{i}") for i in range(10)]
    events.insert(3, identify("long@example.com", "u" * 300))
    stored(db, events)
    crashes = []
    for _ in range(processing.MAX_PROCESS_ATTEMPTS + 3):  # what the trigger, then the sweep, would do
        ids = sweep_round(db)
        if not ids:
            break
        try:
            processing.process_events(db, ids)
        except Exception as e:  # the Celery task fails and is acked; the sweep comes back
            crashes.append(type(e).__name__)
    found = by_message(db)
    statuses = {m: str(e.status) for m, e in found.items()}
    figures.update(batch_crashes=crashes, statuses=sorted(statuses.values()))
    good = [e for e in found.values() if (e.payload or {}).get("userId") != "u" * 300]
    assert all(e.status == EventStatus.PROCESSED for e in good), f"valid events set aside: {statuses}"
    long = next(e for e in found.values() if (e.payload or {}).get("userId") == "u" * 300)
    assert long.status == EventStatus.REJECTED and long.reason and crashes == []  # refused by its data, at once


# --- Issue #21: a failure of one event's own data is not a crash --------------------------------------------


def poisoned(message_id: str, email: str) -> dict:
    return event("identify", messageId=message_id, userId=message_id, traits={"email": email}, properties={})


def test_a_payload_that_cannot_be_read_back_is_rejected_at_its_first_try_and_its_batch_flows(
    db, integration_id, figures, caplog
):
    """Stored before the number limits at the door (json_limits.py): JSONB keeps `0.1e99999` exactly and psycopg
    reads it back as a 100,000-digit integer, which raises on every load of its batch."""
    good = [identify(f"n{i}@example.com", f"nu-{i}") for i in range(20)]
    poison = {"mid-1": "0.1e99999", "mid-2": "1e5000"}
    good[5:5] = [poisoned("mid-1", "p1@example.com")]
    good[12:12] = [poisoned("mid-2", "p2@example.com")]
    ids = stored(db, good)
    with db.begin() as session:  # what an older ingest let through: the number as the producer wrote it
        for message_id, number in poison.items():
            session.execute(
                text("UPDATE events SET payload = jsonb_set(payload, '{properties}', CAST(:n AS jsonb)) "
                     "WHERE message_id = :m"), {"n": f'{{"ltv": {number}}}', "m": message_id}
            )  # fmt: skip
    processing.process_events(db, ids, fresh=True)  # ingest's trigger: one try
    leftover = sweep_round(db)
    with db() as session:
        rows = session.execute(
            select(Event.message_id, Event.status, Event.reason, Event.process_attempts, Event.payload.is_(None))
        ).all()
    found = {r.message_id: r for r in rows}
    figures.update(
        poison_statuses={m: str(found[m].status) for m in poison},
        poison_reason=found["mid-1"].reason[:120],
        others_processed=sum(r.status == EventStatus.PROCESSED for m, r in found.items() if m not in poison),
        tracebacks=caplog.text.count("Traceback"),
    )
    for message_id in poison:
        row = found[message_id]
        assert row.status == EventStatus.REJECTED and row[4], row  # its payload kept as text in raw_body
        assert row.reason.startswith("the stored payload cannot be read: ValueError: Exceeds the limit (4300 digits)")
        assert row.process_attempts == 0  # never retried
    assert all(r.status == EventStatus.PROCESSED for m, r in found.items() if m not in poison)
    assert leftover == []
    assert "Traceback" not in caplog.text and caplog.text.count("rejected: the stored payload") == 2


def test_an_event_whose_processing_raises_on_its_data_is_rejected_at_once(db, integration_id, monkeypatch, caplog):
    real = processing.plan_event

    def plan_event(batch, event, *rest):
        if event.message_id == "bad-value":
            raise ValueError("invalid literal for this field: 'x'")
        return real(batch, event, *rest)

    monkeypatch.setattr(processing, "plan_event", plan_event)
    batch = [identify(f"v{i}@example.com", f"vu-{i}") for i in range(5)] + [poisoned("bad-value", "b@example.com")]
    processing.process_events(db, stored(db, batch))  # a counted try
    events = by_message(db)
    bad = events.pop("bad-value")
    assert bad.status == EventStatus.REJECTED and bad.process_attempts == 1
    assert bad.reason == "processing this event fails: ValueError: invalid literal for this field: 'x'"
    assert all(e.status == EventStatus.PROCESSED for e in events.values())
    assert sweep_round(db) == [] and "Traceback" not in caplog.text


def test_a_batch_write_refused_for_one_event_is_taken_apart_at_once_and_that_event_rejected(
    db, integration_id, monkeypatch, caplog
):
    real = delivery_rows.insert_deliveries
    ids = stored(db, [identify(f"d{i}@example.com", f"du-{i}") for i in range(8)])
    refused_id = ids[3]

    def insert_deliveries(session, rows):
        if any(r["event_id"] == refused_id for r in rows):  # what a value out of a column's range does
            raise DataError("INSERT INTO deliveries ...", {}, Exception("integer out of range"))
        return real(session, rows)

    monkeypatch.setattr(delivery_rows, "insert_deliveries", insert_deliveries)
    processing.process_events(db, ids, fresh=True)  # ingest's trigger, once: no wait for the sweep
    with db() as session:
        events = {e.id: e for e in session.scalars(select(Event))}
    refused = events.pop(refused_id)
    assert refused.status == EventStatus.REJECTED and refused.process_attempts == 1
    assert refused.reason.startswith("processing this event fails the same way on every try: DataError: ")
    assert all(e.status == EventStatus.PROCESSED for e in events.values())
    assert sweep_round(db) == [] and "Traceback" not in caplog.text
