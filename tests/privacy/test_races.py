"""The races an erasure runs against, each made to happen at its worst moment, on PostgreSQL and the sandbox over
HTTP with the pipeline's own functions: a row committed during the search, a flush sending the person while the
erasure starts, a delivery processed before the request and flushed after it, a late identify linking a new
anonymousId, an event dated before the request arriving after the erasure finished."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import Delivery, DeliveryStatus, ErasedIdentifier, Erasure, ErasureStatus, Event, EventStatus, Identity
from models.base import utcnow
from tests.factories import event, identify
from tests.helpers.privacy import client_for, deliver, erase, pg_dump, store
from workers.delivery.flush import flush_integration, flush_round
from workers.delivery.imports import poll_imports
from workers.delivery.report import FlushReport
from workers.delivery.retry import RetryPolicy
from workers.ingest.inbox import Incoming, store_events
from workers.privacy import erasure as erasure_module
from workers.privacy.erasure import Subject, request_erasure
from workers.privacy.remote import drive_erasure
from workers.processing.process import process_events

# Races between sessions on connections of their own: their commits must be real.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("committed_db")]

EMAIL, USER, ANON = "race.erin@example.com", "race-user-erin", "race-anon-erin"


def traces(pg_url: str, *values: str) -> list[str]:
    dump = pg_dump(pg_url)
    return [value for value in values if value in dump]


def request(db, settings, **subject: str) -> int:
    with db.begin() as session:
        return request_erasure(session, settings, Subject.of(**subject)).id


def test_a_row_committed_during_the_search_with_a_lower_id_is_found(db, sandbox, integration, hashing_settings, pg_url):
    """Ids are not handed out in commit order: an event of the person's userId takes its id, a later event of
    someone else commits first, then the person's commits just as the erasure takes its lock. `completed` must
    mean it is gone too (before, the search under the lock only looked at ids above what it had seen)."""
    deliver(db, sandbox, store(db, identify(EMAIL, USER, 1, first_name="Erin")))
    erasure_id = request(db, hashing_settings, email=EMAIL)
    late = db()
    late.begin()
    store_events(late, [Incoming(json.dumps(event("track", 2, userId=USER, event="Viewed")).encode())])
    store(db, identify("other.race@example.com", "race-user-other", 2))  # a higher id, committed first

    real_lock = erasure_module.hold_exclusive

    def lock_after_the_commit(session):
        if late.in_transaction():
            late.commit()
        real_lock(session)

    erasure_module.hold_exclusive = lock_after_the_commit
    try:
        drive_erasure(db, erasure_id, client_for(sandbox.key), hashing_settings, timeout=30)
    finally:
        erasure_module.hold_exclusive = real_lock
        late.close()

    with db() as session:
        assert session.get(Erasure, erasure_id).status == ErasureStatus.COMPLETED
    assert traces(pg_url, EMAIL, USER) == []
    assert sandbox.contact(EMAIL) is None


def test_a_flush_sending_the_person_as_the_erasure_starts_is_waited_for(db, sandbox, integration, hashing_settings):
    """A flush round claimed the person's delivery and its request is running when the erasure starts: the
    erasure waits for the round, then for its import job, and only then searches SendGrid (before, it could
    search before the import landed, report `completed`, and the import brought the contact back)."""
    sandbox.settings(apply_delay=1.5)  # the import lands 1.5 s after SendGrid accepted it
    process_events(db, store(db, identify(EMAIL, USER, 1, first_name="Erin")))
    flushing = db()
    flushing.begin()
    report = FlushReport()
    assert flush_round(flushing, integration.id, client_for(sandbox.key), RetryPolicy.from_settings(), report) == 1
    done: dict[str, int] = {}
    erasing = threading.Thread(target=lambda: done.update(id=erase(db, sandbox, hashing_settings, email=EMAIL)))
    erasing.start()
    time.sleep(1.0)  # the erasure is waiting for the round's row locks
    flushing.commit()  # the round ends: the delivery is `sent` with its job id
    flushing.close()
    erasing.join(timeout=60)

    sandbox.flush_jobs()  # whatever SendGrid still had to apply, applied
    assert sandbox.contact(EMAIL) is None
    with db() as session:
        erasure = session.get(Erasure, done["id"])
        assert erasure.status == ErasureStatus.COMPLETED
        (state,) = erasure.sendgrid.values()
        assert state["outcome"] == "deleted" and state["deleted"] == 1


def test_a_delivery_processed_before_the_request_is_not_flushed_after_it(db, sandbox, integration, hashing_settings):
    """The person's deliveries were decided before the request; a flush runs after the request, before the
    erasure's local step: it sends nothing of the person (before, it re-created the contact)."""
    process_events(db, store(db, event("page", 1, anonymousId=ANON), identify(EMAIL, USER, 2) | {"anonymousId": ANON}))
    process_events(db, store(db, event("track", 3, userId=USER, event="Viewed")))
    with db() as session:
        queued = session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.QUEUED))
    assert queued >= 1
    request(db, hashing_settings, email=EMAIL)
    flush_integration(db, integration.id, client_for(sandbox.key))
    sandbox.flush_jobs()

    assert sandbox.contact(EMAIL) is None
    with db() as session:
        erased = select(func.count()).where(Delivery.status == DeliveryStatus.SKIPPED, Delivery.reason == "erased")
        assert session.scalar(erased) == queued
        going = Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.SENT])
        assert session.scalar(select(func.count()).where(going)) == 0  # the rest waits for the local step


def test_a_late_identify_teaches_a_new_anonymous_id(db, sandbox, integration, hashing_settings, pg_url):
    """After the erasure, a visitor's page event (dated before it) is held for a visitor nobody knows; then the
    person's identify from before the erasure arrives, carrying that anonymousId: the identify is dropped, the
    anonymousId learned, the held page event redacted, and a later event of it dropped as well."""
    deliver(db, sandbox, store(db, identify(EMAIL, USER, 1, first_name="Erin") | {"anonymousId": ANON}))
    erasure_id = erase(db, sandbox, hashing_settings, email=EMAIL)
    new_anon = "race-anon-erin-phone"
    process_events(db, store(db, event("page", 2, anonymousId=new_anon, properties={"url": "https://x/1"})))
    with db() as session:  # held: nobody is linked to that visitor
        held = select(func.count()).where(Delivery.status == DeliveryStatus.HELD)
        assert session.scalar(held) == 1

    deliver(db, sandbox, store(db, identify(EMAIL, USER, 3, first_name="Erin") | {"anonymousId": new_anon}))
    deliver(db, sandbox, store(db, event("track", 4, anonymousId=new_anon, event="Viewed")))

    assert traces(pg_url, EMAIL, USER, ANON, new_anon) == []
    assert sandbox.contact(EMAIL) is None
    with db() as session:
        learned = session.scalars(select(ErasedIdentifier).where(ErasedIdentifier.source == "learned")).all()
        assert [(i.erasure_id, i.kind) for i in learned] == [(erasure_id, "anonymous")]
        assert session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.HELD)) == 0
        assert session.scalar(select(func.count()).where(Identity.value == new_anon)) == 0
        dropped = select(func.count()).where(Event.reason == "erased", Event.status == EventStatus.PROCESSED)
        assert session.scalar(dropped) == 4  # the first identify, the page, the late identify, the track


def test_an_event_stored_while_the_pool_is_busy_is_gone_when_completed(
    db, sandbox, integration, hashing_settings, pg_url
):
    """Events of the person stored after the local step and not processed yet when SendGrid's part finishes
    (the pool is busy): the last check before `completed` redacts them, counted in `removed`."""
    deliver(db, sandbox, store(db, identify(EMAIL, USER, 1, first_name="Erin") | {"anonymousId": ANON}))
    erasure_id = request(db, hashing_settings, email=EMAIL)
    erasure_module.erase_locally(db, erasure_id, hashing_settings)
    store(db, event("page", 2, anonymousId=ANON), event("track", 3, userId=USER, event="Viewed"))  # not processed
    drive_erasure(db, erasure_id, client_for(sandbox.key), hashing_settings, timeout=30)

    assert traces(pg_url, EMAIL, USER, ANON) == []
    with db() as session:
        erasure = session.get(Erasure, erasure_id)
        assert erasure.status == ErasureStatus.COMPLETED
        assert erasure.removed["after_local_step"] == 2 and erasure.removed["events"] == 3


def test_the_import_poller_settles_a_sent_delivery_of_an_erased_person_naming_nobody(
    db, sandbox, integration, hashing_settings
):
    """The person's delivery went out before the request; its import job settles after it: the delivery is
    settled naming nobody, with the reason `erased` (replay leaves it alone), before the local step ran."""
    sandbox.settings(apply_delay=0.5)
    process_events(db, store(db, identify(EMAIL, USER, 1, first_name="Erin")))
    flush_integration(db, integration.id, client_for(sandbox.key))
    request(db, hashing_settings, email=EMAIL)
    sandbox.flush_jobs()
    assert poll_imports(db, client_for(sandbox.key), now=utcnow() + timedelta(minutes=1)) == 1

    with db() as session:
        (delivery,) = session.scalars(select(Delivery)).all()
        assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.reason == "erased"
        assert (delivery.email, delivery.user_id, delivery.anonymous_id, delivery.patch) == (None, None, None, None)


def test_a_key_learned_while_another_batch_stores_its_event(
    db, sandbox, integration, hashing_settings, pg_url, monkeypatch
):
    """Two batches at once: one holds the page event of a device nobody knows and has passed its check; the
    other drops the person's late identify that names that device and learns it. The first then stores its page
    event (held): the learner looks again, under the exclusive lock, once both committed."""
    import workers.processing.process as process_module

    deliver(db, sandbox, store(db, identify(EMAIL, USER, 1, first_name="Erin")))
    erase(db, sandbox, hashing_settings, email=EMAIL)
    new_anon = "race-anon-erin-tablet"
    page, late = store(
        db,
        event("page", 2, anonymousId=new_anon, properties={"url": "https://x/2"}),
        identify(EMAIL, USER, 3) | {"anonymousId": new_anon},
    )
    real_check = process_module.erased_events
    checked_page = threading.Event()

    def check_then_wait(session, events, checked):
        dropped = real_check(session, events, checked)
        if threading.current_thread().name == "beside":
            checked_page.set()
            time.sleep(1.0)  # the learner drops the identify, learns the device, waits for the page's row
        return dropped

    monkeypatch.setattr(process_module, "erased_events", check_then_wait)
    beside = threading.Thread(target=process_events, args=(db, [page]), name="beside")
    beside.start()
    assert checked_page.wait(timeout=10)  # the page's batch passed its check and holds the page
    process_events(db, [late])  # drops the identify, learns the device, commits, looks again once `beside` did
    beside.join(timeout=30)

    assert traces(pg_url, EMAIL, USER, new_anon) == []
    with db() as session:
        assert session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.HELD)) == 0
