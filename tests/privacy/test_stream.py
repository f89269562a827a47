"""An erasure in the middle of a flowing stream, through the real pipeline: RabbitMQ, `signal-sendgrid ingest`,
a Celery worker with beat, PostgreSQL and the sandbox over HTTP; the erasure run by `signal-sendgrid forget`."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select

from models import Contact, Delivery, DeliveryStatus, Erasure, ErasureStatus, Event, EventStatus
from models.base import utcnow
from tests.factories import event, identify
from tests.fixtures.processes import cli, wait_for
from tests.privacy.conftest import pg_dump
from workers.ingest.wire import connect, declare, publish_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL, USER, ANON = "stream.erin@example.com", "stream-user-erin", "stream-anon-erin"


def erin(minutes: int) -> list[dict]:
    """Erin's events, all dated before the erasure (the factories' clock is a month back)."""
    return [
        event("page", minutes, anonymousId=ANON, properties={"url": f"https://shop.example/p/{minutes}"}),
        identify(EMAIL, USER, minutes, first_name="Erin") | {"anonymousId": ANON},
        event("track", minutes, userId=USER, event="Product Viewed", properties={"product_id": f"sku-{minutes}"}),
    ]


def others(start: int, n: int) -> list[dict]:
    return [
        identify(f"stream{i}@example.com", f"stream-user-{i}", i % 50, first_name=f"P{i}")
        for i in range(start, start + n)
    ]


def stored(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Event))


def waiting(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Event).where(Event.status == EventStatus.RECEIVED))


def test_an_erasure_in_a_flowing_stream(db, sandbox, service_env, processes, pg_url, monkeypatch):
    assert cli(service_env, "install", "--api-key", sandbox.key, "--default-list-id", sandbox.list_id).returncode == 0
    processes.ingest()
    processes.worker()
    broker = service_env["BROKER_URL"]

    def publish(events: list[dict]) -> None:
        with connect(broker) as connection:
            declare(connection)
            assert publish_events(connection, events) == len(events)

    publish(others(0, 50) + erin(1))
    wait_for(lambda: sandbox.contact(EMAIL), timeout=60, what="Erin in SendGrid")

    published = {"rounds": 0}
    forgotten = threading.Event()

    def stream() -> None:  # rounds of 25 people and Erin's events (all dated before the erasure), every 0.5 s,
        after = 0  # before, during and for 3 rounds after the erasure
        while after < 3:
            round_ = published["rounds"]
            publish(others(100 + 25 * round_, 25) + erin(10 + round_))
            published["rounds"] += 1
            after += forgotten.is_set()
            time.sleep(0.5)

    flowing = threading.Thread(target=stream)
    flowing.start()
    time.sleep(2.0)  # in the middle of it
    forgot = cli(service_env, "forget", "--email", EMAIL.upper(), "--json", timeout=120)
    forgotten.set()
    assert forgot.returncode == 0, forgot.stderr
    record = json.loads(forgot.stdout)
    flowing.join()
    rounds = published["rounds"]
    total = 50 + 3 + rounds * (25 + 3)
    wait_for(lambda: stored(db) == total and waiting(db) == 0, timeout=60, what="every event processed")
    time.sleep(1.0)  # a flush or import poll in flight settles

    assert record["status"] == "completed", record
    assert record["removed"]["contacts"] == 1 and record["removed"]["events"] >= 3
    (outcome,) = record["sendgrid"]
    assert outcome["outcome"] == "deleted" and outcome["deleted"] >= 1 and outcome["job_ids"]
    assert sandbox.contact(EMAIL) is None
    assert len(sandbox.contacts()) == 50 + rounds * 25  # everybody else is there
    dump = pg_dump(pg_url)
    for trace in (EMAIL, USER, ANON):
        assert trace not in dump, f"{trace} is still in the database"
    with db() as session:
        erasure = session.get(Erasure, record["id"])
        assert erasure.status == ErasureStatus.COMPLETED and erasure.pending_secret is None
        # Every Erin delivery names nobody now, before the erasure or after (skipped, reason erased).
        nobody = (Delivery.email.is_(None), Delivery.user_id.is_(None), Delivery.anonymous_id.is_(None))
        assert session.scalar(select(func.count()).select_from(Delivery).where(*nobody)) == 3 + 3 * rounds
        skipped = select(func.count()).where(Delivery.status == DeliveryStatus.SKIPPED, Delivery.reason == "erased")
        assert session.scalar(skipped) >= 3  # the stream's last rounds came after the erasure

    # Later: an identify with marketing consent, dated after the erasure, starts a new contact.
    fresh = identify(EMAIL, USER, 0, first_name="Erin, again") | {
        "timestamp": utcnow().isoformat().replace("+00:00", "Z"),
        "context": {"consent": {"marketing": True}},
    }
    publish([fresh])
    wait_for(lambda: (sandbox.contact(EMAIL) or {}).get("first_name") == "Erin, again", timeout=60, what="new Erin")
    with db() as session:
        contact = session.scalars(select(Contact).where(Contact.email == EMAIL)).one()
        assert set(contact.fields) == {"first_name", "signal_user_id"}  # nothing of the erased history
        assert session.scalar(select(func.count()).where(Delivery.email == EMAIL)) == 1
