"""Message identity (issue 21): only an event claims its messageId; a stored id re-sent with a different event is
kept aside as `conflicting`, counted in /metrics and listed by `signal-sendgrid events --status conflicting`."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from config.settings import load_settings
from models import Event, EventStatus
from tests.factories import identify
from tests.helpers.api import api_env
from tests.helpers.cli import invoke
from tests.operations.test_metrics import scrape
from tests.pipeline.test_flow import run_pipeline
from workers.ingest.inbox import Incoming, event_digest, store_events
from workers.processing.process import process_events

pytestmark = pytest.mark.integration


def store(db, *messages: Incoming) -> list[int]:
    with db.begin() as session:
        return store_events(session, list(messages))


def events_by_status(db, status: EventStatus) -> list[Event]:
    with db() as session:
        return list(session.scalars(select(Event).where(Event.status == status).order_by(Event.id)))


def test_an_unreadable_body_under_an_id_leaves_it_to_the_good_event(db, sandbox, integration):
    good = identify("fixed@example.com", "u-fixed", first_name="Fixed")
    store(db, Incoming(b'{"messageId": "' + good["messageId"].encode() + b'", "type": "identify", ', good["messageId"]))

    run_pipeline(db, sandbox, [good])  # the corrected re-send, under the same AMQP id and messageId

    (rejected,) = events_by_status(db, EventStatus.REJECTED)
    assert rejected.message_id.startswith("sha256:") and "body is not JSON" in rejected.reason
    (processed,) = events_by_status(db, EventStatus.PROCESSED)
    assert processed.message_id == good["messageId"]
    assert sandbox.contact("fixed@example.com")["first_name"] == "Fixed"


def test_an_event_rejected_at_processing_gives_its_id_up_to_the_corrected_one(db, sandbox, integration):
    wrong = identify("typo@example.com", "u-typo") | {"type": "identfy"}
    run_pipeline(db, sandbox, [wrong])
    (rejected,) = events_by_status(db, EventStatus.REJECTED)
    assert rejected.message_id == wrong["messageId"]  # an event: it claimed its id

    run_pipeline(db, sandbox, [wrong | {"type": "identify"}])

    (rejected,) = events_by_status(db, EventStatus.REJECTED)
    assert rejected.message_id == f"rejected:{rejected.id}"
    (processed,) = events_by_status(db, EventStatus.PROCESSED)
    assert processed.message_id == wrong["messageId"]
    assert sandbox.contact("typo@example.com") is not None


def test_an_sdk_retry_differing_only_in_sent_at_is_stored_once_and_no_conflict(db):
    first = identify("r@example.com", "u-r") | {"sentAt": "2026-12-08T02:00:00.000Z"}
    retry = {**first, "sentAt": "2026-12-08T02:00:05.000Z"}
    assert store(db, Incoming(json.dumps(first).encode())) != []
    assert store(db, Incoming(json.dumps(retry).encode()), Incoming(json.dumps(retry).encode())) == []
    assert events_by_status(db, EventStatus.CONFLICTING) == []
    (stored,) = events_by_status(db, EventStatus.RECEIVED)
    assert stored.digest == event_digest(first) == event_digest(retry)


def test_a_different_event_under_a_stored_id_is_kept_as_conflicting_once(db):
    first = identify("c@example.com", "u-c", first_name="First")
    other = identify("c@example.com", "u-c", first_name="Other") | {"messageId": first["messageId"]}
    store(db, Incoming(json.dumps(first).encode()))

    assert store(db, Incoming(json.dumps(other).encode())) == []  # not processed
    assert store(db, Incoming(json.dumps(other | {"sentAt": "later"}).encode())) == []  # its retry: no 2nd row

    (conflict,) = events_by_status(db, EventStatus.CONFLICTING)
    assert (conflict.digest, conflict.conflicts_with) == (event_digest(other), event_digest(first))
    assert conflict.message_id == "conflict:" + event_digest(other)
    assert conflict.reason.startswith(f"messageId '{first['messageId']}' is already stored with a different event")
    assert conflict.payload is None and conflict.raw_body is None  # not kept: it would escape erasure
    assert process_events(db, [conflict.id]) == set() and events_by_status(db, EventStatus.CONFLICTING)


def test_a_conflict_inside_one_batch_is_kept_too(db):
    first = identify("b@example.com", "u-b", first_name="One")
    other = first | {"traits": {"email": "b@example.com", "first_name": "Two"}}
    ids = store(db, Incoming(json.dumps(first).encode()), Incoming(json.dumps(other).encode()))
    assert len(ids) == 1
    (conflict,) = events_by_status(db, EventStatus.CONFLICTING)
    assert conflict.conflicts_with == event_digest(first)


def test_conflicts_are_counted_in_metrics_and_listed_by_the_cli(db, serve, pg_url, sandbox, clean_broker, service_env):
    first = identify("m@example.com", "u-m", first_name="A")
    other = first | {"traits": {"email": "m@example.com", "first_name": "B"}}
    store(db, Incoming(json.dumps(first).encode()))
    store(db, Incoming(json.dumps(other).encode()))

    values = scrape(serve(load_settings(api_env(pg_url, sandbox.url, clean_broker))))
    assert values[("signal_sendgrid_events_conflicting_total", ())] == 1

    listed = invoke(service_env, "events", "--status", "conflicting", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["digest"], row["conflicts_with"]) == (event_digest(other), event_digest(first))
    table = invoke(service_env, "events", "--status", "conflicting")
    assert table.returncode == 0, table.stderr
    assert event_digest(other) in table.stdout and event_digest(first) in table.stdout, table.stdout


def test_a_body_over_1_mib_is_rejected_with_a_reason_and_not_kept(db):
    big = json.dumps(identify("big@example.com", "u-big", blob="x" * (1024 * 1024))).encode()
    small = identify("small@example.com", "u-small")
    ids = store(db, Incoming(big, "m-big"), Incoming(json.dumps(small).encode()))
    assert len(ids) == 1
    (rejected,) = events_by_status(db, EventStatus.REJECTED)
    assert rejected.message_id == "sha256:" + hashlib.sha256(big).hexdigest()
    assert rejected.reason == f"body is {len(big):,} bytes, over the 1,048,576-byte limit (not kept)"
    assert rejected.raw_body is None and rejected.payload is None
