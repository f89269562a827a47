"""An erasure in the middle of a flowing stream, through the real pipeline: RabbitMQ, `signal-sendgrid ingest`,
a Celery worker with beat (a busy pool: a backlog of 2,000 other people's events), PostgreSQL and the sandbox over
HTTP; the erasure run by `signal-sendgrid forget`. Erin's events keep coming during and after it, each round from
a device never seen before (a late identify linking a new anonymousId), all dated before the erasure."""

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
from tests.helpers.privacy import pg_dump
from workers.ingest.wire import connect, declare, publish_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EMAIL, USER, ANON = "stream.erin@example.com", "stream-user-erin", "stream-anon-erin"
BACKLOG = 2000  # other people's events waiting when the erasure is asked for: the pool is busy


def anon(round_: int) -> str:
    return f"{ANON}-{round_}"  # a device per round: every round links an anonymousId never seen before


def erin(round_: int) -> list[dict]:
    """A round of Erin's events, all dated before the erasure (the factories' clock is a month back): a page
    from a new device, the identify that links it (a late identify once the erasure was asked for), a track."""
    minutes = 10 + round_
    return [
        event("page", minutes, anonymousId=anon(round_), properties={"url": f"https://shop.example/p/{minutes}"}),
        identify(EMAIL, USER, minutes, first_name="Erin") | {"anonymousId": anon(round_)},
        event("track", minutes, userId=USER, event="Product Viewed", properties={"product_id": f"sku-{minutes}"}),
    ]


def others(start: int, n: int) -> list[dict]:
    return [
        identify(f"stream{i}@example.com", f"stream-user-{i}", i % 50, first_name=f"P{i}")
        for i in range(start, start + n)
    ]


def where(dump: str, trace: str) -> list[str]:
    """The rows of the dump that hold the trace, with their table."""
    table, found = "", []
    for line in dump.splitlines():
        if line.startswith("COPY "):
            table = line.split()[1]
        elif trace in line:
            found.append(f"{table}: {line[:300]}")
    return found


def stored(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Event))


def waiting(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Event).where(Event.status == EventStatus.RECEIVED))


def test_an_erasure_in_a_flowing_stream(db, sandbox, service_env, processes, pg_url, monkeypatch):
    assert cli(service_env, "install", "--api-key", sandbox.key, "--default-list-id", sandbox.list_id).returncode == 0
    sandbox.settings(apply_delay=0.5)  # imports land after a while, as SendGrid's do: a flush in flight matters
    processes.ingest()
    processes.worker()
    broker = service_env["BROKER_URL"]

    def publish(events: list[dict]) -> None:
        with connect(broker) as connection:
            declare(connection)
            assert publish_events(connection, events) == len(events)

    publish(others(0, 50) + erin(0))
    wait_for(lambda: sandbox.contact(EMAIL), timeout=60, what="Erin in SendGrid")

    published = {"rounds": 1, "others": 50}
    forgotten = threading.Event()

    def stream() -> None:  # rounds of Erin's events among 25 other people, every 0.2 s, before, during and for
        after = 0  # 5 rounds after the erasure; a backlog of other people's events keeps the pool busy
        while after < 5:
            round_ = published["rounds"]
            crowd = BACKLOG if round_ == 3 else 25
            publish(others(published["others"], crowd) + erin(round_))
            published["rounds"] += 1
            published["others"] += crowd
            after += forgotten.is_set()
            time.sleep(0.2)

    flowing = threading.Thread(target=stream)
    flowing.start()
    wait_for(lambda: published["rounds"] > 4, timeout=30, what="the backlog published")
    forgot = cli(service_env, "forget", "--email", EMAIL.upper(), "--json", timeout=120)
    forgotten.set()
    assert forgot.returncode == 0, forgot.stderr
    record = json.loads(forgot.stdout)
    flowing.join()
    rounds, people = published["rounds"], published["others"]
    total = people + rounds * 3
    wait_for(lambda: stored(db) == total and waiting(db) == 0, timeout=90, what="every event processed")
    time.sleep(1.0)  # a flush or import poll in flight settles
    sandbox.flush_jobs()

    assert record["status"] == "completed", record
    assert record["removed"]["contacts"] == 1 and record["removed"]["events"] >= 3
    (outcome,) = record["sendgrid"]
    assert outcome["outcome"] == "deleted" and outcome["deleted"] >= 1 and outcome["job_ids"]
    assert sandbox.contact(EMAIL) is None
    wait_for(lambda: len(sandbox.contacts()) == people, timeout=60, what="everybody else in SendGrid")
    dump = pg_dump(pg_url)
    for trace in (EMAIL, USER, *(anon(r) for r in range(rounds))):
        assert trace not in dump, f"{trace} is still in the database: {where(dump, trace)}"
    with db() as session:
        erasure = session.get(Erasure, record["id"])
        assert erasure.status == ErasureStatus.COMPLETED and erasure.pending_secret is None
        # Every Erin event is redacted, and every Erin delivery names nobody (an event still waiting when the
        # erasure found it got none).
        assert session.scalar(select(func.count()).where(Event.reason == "erased")) == 3 * rounds
        nobody = (Delivery.email.is_(None), Delivery.user_id.is_(None), Delivery.anonymous_id.is_(None))
        named = session.scalar(select(func.count()).select_from(Delivery).where(*nobody))
        assert 0 < named <= 3 * rounds
        assert session.scalar(select(func.count()).where(Delivery.reason == "erased")) == named
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
