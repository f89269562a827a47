"""Erasure through the pipeline's plain functions on PostgreSQL and the sandbox over HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Contact, Delivery, DeliveryStatus, Erasure, ErasureStatus, Event, Identity, Order
from tests.factories import event, identify
from tests.helpers.privacy import deliver, erase, pg_dump, store

pytestmark = pytest.mark.integration

EMAIL, USER, ANON = "erin.erased@example.com", "user-erin-77", "anon-erin-77"


def erin_history() -> list[dict]:
    return [
        event("page", 1, anonymousId=ANON, properties={"url": "https://shop.example/erin"}),
        identify(EMAIL, USER, 2, first_name="Erin") | {"anonymousId": ANON},
        event("track", 3, userId=USER, event="Order Completed", properties={"order_id": "erin-o-1", "revenue": 12.5}),
    ]


@pytest.mark.usefixtures("committed_db")  # pg_dump reads the database from a connection of its own
def test_forget_by_user_id_removes_the_person_here_and_in_sendgrid(db, sandbox, integration, hashing_settings, pg_url):
    deliver(db, sandbox, store(db, *erin_history(), identify("other@example.com", "user-other", 2)))
    assert sandbox.contact(EMAIL) is not None

    erasure_id = erase(db, sandbox, hashing_settings, user_id=USER)

    assert sandbox.contact(EMAIL) is None
    assert sandbox.contact("other@example.com") is not None  # nobody else
    with db() as session:
        erasure = session.get(Erasure, erasure_id)
        assert erasure.status == ErasureStatus.COMPLETED
        assert erasure.pending_secret is None
        assert erasure.removed["contacts"] == 1 and erasure.removed["orders"] == 1
        assert erasure.removed["identities"] == 2  # userId and anonymousId links
        assert erasure.removed["events"] == 3 and erasure.removed["deliveries"] == 3
        outcome = erasure.sendgrid[str(integration.id)]
        assert outcome["outcome"] == "deleted" and outcome["deleted"] == 1 and len(outcome["job_ids"]) == 1
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
        assert session.scalar(select(func.count()).select_from(Order)) == 0
        assert session.scalar(select(func.count()).where(Identity.value == USER)) == 0
        assert session.scalar(select(func.count()).where(Delivery.reason == "erased")) == 3
    dump = pg_dump(pg_url)
    for trace in (EMAIL, USER, ANON, "erin-o-1", "Erin"):
        assert trace not in dump, trace
    assert "other@example.com" in dump


def test_events_from_before_the_erasure_are_dropped_later_ones_start_afresh(db, sandbox, integration, hashing_settings):
    from models.base import utcnow

    deliver(db, sandbox, store(db, identify(EMAIL, USER, 2, first_name="Erin")))
    stored = store(db, event("page", 4, userId=USER))  # stored, not processed yet: redacted by the erasure
    erase(db, sandbox, hashing_settings, email=EMAIL)
    # Still in the queue at the erasure (stored after it), but they happened before it: dropped when processed.
    queued = store(db, event("page", 5, userId=USER), identify(EMAIL, USER, 6, first_name="Erin"))
    fresh = identify(EMAIL, USER, 0, first_name="Erin again") | {
        "timestamp": utcnow().isoformat().replace("+00:00", "Z"),
        "context": {"consent": {"marketing": True}},
    }
    deliver(db, sandbox, stored + queued + store(db, fresh))
    with db() as session:
        rows = session.execute(
            select(Delivery.status, Delivery.reason, Delivery.email).where(Delivery.event_id.in_(queued))
        )
        assert set(rows) == {(DeliveryStatus.SKIPPED, "erased", None)}
        events = select(Event.status, Event.reason, Event.payload).where(Event.id.in_(stored + queued))
        assert [tuple(e) for e in session.execute(events)] == [("processed", "erased", None)] * 3
        contact = session.scalars(select(Contact).where(Contact.email == EMAIL)).one()  # a new contact
        assert contact.fields["first_name"][0] == "Erin again"
    assert sandbox.contact(EMAIL)["first_name"] == "Erin again"


def test_an_erasure_while_sendgrid_answers_429_and_5xx_completes_once_it_recovers(
    db, sandbox, integration, hashing_settings
):
    import threading
    import time

    from models import DeliveryAttempt

    deliver(db, sandbox, store(db, *erin_history()))
    # Two 429s (with rate-limit headers), then nothing but 503s, until SendGrid recovers after the second 503.
    sandbox.set_faults(error_rate=1.0, error_status=503, storm_429={"count": 2}, paths=["/v3/marketing/"])

    def recover() -> None:
        while sum(r["status"] == 503 for r in sandbox.requests_log()) < 2:
            time.sleep(0.05)
        sandbox.clear_faults()

    threading.Thread(target=recover, daemon=True).start()

    erasure_id = erase(db, sandbox, hashing_settings, email=EMAIL, timeout=60)

    assert sandbox.contact(EMAIL) is None
    with db() as session:
        erasure = session.get(Erasure, erasure_id)
        assert erasure.status == ErasureStatus.COMPLETED and erasure.attempts > 1
        assert erasure.sendgrid[str(integration.id)]["outcome"] == "deleted"
        codes = session.scalars(
            select(DeliveryAttempt.status_code)
            .where(DeliveryAttempt.kind.in_(["contact_search", "contact_delete", "delete_poll"]))
            .order_by(DeliveryAttempt.id)
        ).all()
    assert codes[:4] == [429, 429, 503, 503] and codes[-4:] == [200, 202, 200, 404]  # search, delete, job, search


def test_an_unknown_person_is_an_erasure_that_finds_nothing(db, sandbox, integration, hashing_settings):
    erasure_id = erase(db, sandbox, hashing_settings, email="nobody@example.com")
    with db() as session:
        erasure = session.get(Erasure, erasure_id)
        assert erasure.status == ErasureStatus.COMPLETED
        assert erasure.removed == {
            "contacts": 0, "orders": 0, "identities": 0, "deliveries": 0, "events": 0, "delivery_attempts": 0
        }  # fmt: skip
        assert erasure.sendgrid[str(integration.id)]["outcome"] == "not found"


def test_before_means_the_earlier_of_timestamp_and_arrival_against_the_request_time(
    db, sandbox, integration, hashing_settings
):
    from datetime import timedelta

    from sqlalchemy import update

    from workers.privacy.erasure import Subject, request_erasure
    from workers.processing.process import process_events

    with db.begin() as session:
        at = request_erasure(session, hashing_settings, Subject.of(email=EMAIL)).requested_at

    def stamped(when, name: str) -> dict:
        return identify(EMAIL, USER, 0, first_name=name) | {"timestamp": when.isoformat().replace("+00:00", "Z")}

    ids = store(db, stamped(at - timedelta(microseconds=1), "just before"), stamped(at, "at the request"),
                stamped(at + timedelta(hours=1), "dated later, arrived before"))  # fmt: skip
    with db.begin() as session:
        session.execute(update(Event).where(Event.id == ids[2]).values(received_at=at - timedelta(seconds=1)))
    process_events(db, ids)
    with db() as session:
        reasons = dict(session.execute(select(Delivery.event_id, Delivery.reason)).all())
    assert [reasons[i] == "erased" for i in ids] == [True, False, True]


def test_a_forgotten_persons_deliveries_are_not_replayed(db, sandbox, integration, hashing_settings):
    from workers.processing.process import process_events
    from workers.processing.replay import ReplayFilter, replay_deliveries

    process_events(db, store(db, *erin_history()))  # decided, queued, not sent yet
    erase(db, sandbox, hashing_settings, email=EMAIL)
    with db() as session:
        skipped = select(func.count()).where(Delivery.status == DeliveryStatus.SKIPPED, Delivery.reason == "erased")
        assert session.scalar(skipped) == 3
    with db.begin() as session:
        result = replay_deliveries(session, ReplayFilter("skipped"))
    assert result.matched == 0 and sandbox.contact(EMAIL) is None


def test_suppressions_are_kept_and_a_withdrawal_not_yet_forwarded_is_forwarded(db, sandbox, settings):
    from workers.integrations.install import InstallRequest, install
    from workers.privacy import hashing
    from workers.processing.process import process_events

    hashing.bind(settings)
    with db.begin() as session:
        install(
            session, InstallRequest(api_key=sandbox.key, options={"unsubscribe_group_id": sandbox.group_id}), settings
        )
    deliver(db, sandbox, store(db, identify(EMAIL, USER, 1) | {"context": {"consent": {"marketing": True}}}))
    process_events(db, store(db, identify(EMAIL, USER, 2) | {"context": {"consent": {"marketing": False}}}))
    assert sandbox.suppressions()["groups"][str(sandbox.group_id)] == []  # not flushed yet: not told

    erase(db, sandbox, settings, email=EMAIL)

    assert sandbox.contact(EMAIL) is None
    assert sandbox.suppressions()["groups"][str(sandbox.group_id)] == [EMAIL]  # kept: no mail to that address
    hashing._bound.clear()
