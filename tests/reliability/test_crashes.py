"""Issue #7, crashes: 20,000 events flow while ingest and Celery are SIGKILLed and both services restart.

The expected SendGrid state is computed here from the input by a small reference model that shares no code
with the product: per email, the newest value (by event timestamp) of each field, and the lifetime value as
the sum of revenue over distinct order ids.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import Delivery, Event, EventStatus, Order
from tests.factories import BASE_TIME
from tests.fixtures.processes import cli
from tests.helpers.reliability import (
    descendants,
    ingest_counts,
    kill_tree,
    log_of,
    restart_postgres,
    restart_rabbitmq,
    sigkill,
    task_redeliveries,
    wait_until,
)
from workers.ingest.wire import DEAD_QUEUE_NAME, connect, declare, publish_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = int(os.environ.get("RELIABILITY_CRASH_EVENTS", 20_000))
EMAILS = max(EVENTS // 20, 10)
MIN_KILLS = int(os.environ.get("RELIABILITY_CRASH_KILLS", 12))
PUBLISH_SECONDS = 45  # spread over the chaos phase, so that the kills and restarts hit a flowing pipeline
MODELED = ("first_name", "signal_user_id", "last_page_url", "last_product_id", "last_purchase_at", "lifetime_value")


def stamp(second: int) -> str:
    return (BASE_TIME + timedelta(seconds=second)).isoformat().replace("+00:00", "Z")


def generate(seed: int = 7) -> tuple[list[dict], int]:
    """The input: identify, page, Product Viewed and Order Completed events for EMAILS people, shuffled (so
    newest-wins matters), with repeated orders under new messageIds and re-published identical messages."""
    rng = random.Random(seed)
    events: list[dict] = []
    orders: dict[int, list[dict]] = {}
    duplicates = 0
    while len(events) < EVENTS:
        k = len(events)
        person = rng.randrange(EMAILS)
        email, user = f"crash-{person}@example.com", f"cu-{person}"
        base = {"messageId": f"crash-{k}", "userId": user, "timestamp": stamp(k)}
        roll = rng.random()
        if events and roll < 0.02:  # the producer sends the very same message again
            events.append(dict(rng.choice(events)))
            duplicates += 1
            continue
        if roll < 0.30:
            body = {"type": "identify", "traits": {"email": email, "first_name": f"F{k}"}}
        elif roll < 0.60:
            body = {"type": "page", "properties": {"url": f"https://shop.example/p/{k}"}}
        elif roll < 0.80:
            body = {"type": "track", "event": "Product Viewed", "properties": {"product_id": f"P{k}"}}
        elif orders.get(person) and roll < 0.84:  # the same order again, as a new message: counted once
            again = rng.choice(orders[person])
            body = {key: again[key] for key in ("type", "event", "properties", "timestamp")}
        else:
            revenue = f"{rng.randrange(100, 50_000) / 100:.2f}"
            body = {
                "type": "track",
                "event": "Order Completed",
                "properties": {"order_id": f"o-{k}", "revenue": revenue},
            }
        event = {**base, **body}
        if event["type"] != "identify":
            event["context"] = {"traits": {"email": email}}
        if event.get("event") == "Order Completed" and event["properties"]["order_id"] == f"o-{k}":
            orders.setdefault(person, []).append(event)
        events.append(event)
    rng.shuffle(events)
    return events, duplicates


def expected_contacts(events: list[dict]) -> dict[str, dict]:
    """The reference model: newest-by-timestamp per field, LTV over distinct order ids (Decimal)."""
    fields: dict[str, dict[str, tuple[str, object]]] = {}
    revenue: dict[str, dict[str, Decimal]] = {}
    for event in events:
        email = (event.get("traits") or event.get("context", {}).get("traits"))["email"]
        at = event["timestamp"]  # ISO, same zone and format: comparable as text
        sets: dict[str, object] = {}
        if event["type"] == "identify":
            sets = {"first_name": event["traits"]["first_name"], "signal_user_id": event["userId"]}
        elif event["type"] == "page":
            sets = {"last_page_url": event["properties"]["url"]}
        elif event["event"] == "Product Viewed":
            sets = {"last_product_id": event["properties"]["product_id"]}
        else:
            sets = {"last_purchase_at": at[:10] + "T00:00:00Z"}
            revenue.setdefault(email, {})[event["properties"]["order_id"]] = Decimal(event["properties"]["revenue"])
        mine = fields.setdefault(email, {})
        for name, value in sets.items():
            if name not in mine or at > mine[name][0]:
                mine[name] = (at, value)
    expected = {}
    for email, mine in fields.items():
        contact = {name: value for name, (_, value) in mine.items()}
        if email in revenue:
            contact["lifetime_value"] = sum(revenue[email].values(), Decimal(0))
        expected[email] = contact
    return expected


def observed(contact: dict) -> dict:
    values = {"first_name": contact.get("first_name"), **(contact.get("custom_fields") or {})}
    found = {name: values[name] for name in MODELED if values.get(name) not in (None, "")}
    if "lifetime_value" in found:
        found["lifetime_value"] = Decimal(str(found["lifetime_value"]))  # exact: compared as decimals
    return found


@dataclass
class Chaos:
    kills: dict[str, int] = field(default_factory=lambda: {"ingest": 0, "worker": 0, "worker_child": 0, "beat": 0})
    restarts: dict[str, float] = field(default_factory=dict)
    publish_retries: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())


def publish_all(broker_url: str, events: list[dict], chaos: Chaos, done: threading.Event) -> None:
    """Publish in chunks with confirms; a chunk cut by a broker restart is published again (duplicates are
    absorbed by messageId), so a confirmed event is never skipped."""
    try:
        start = 0
        while start < len(events):
            chunk = events[start : start + 500]
            try:
                with connect(broker_url) as connection:
                    connection.ensure_connection(max_retries=60, interval_start=0.5, interval_step=0.5, interval_max=2)
                    declare(connection)
                    while chunk:
                        publish_events(connection, chunk)
                        start += len(chunk)
                        chunk = events[start : start + 500]
                        time.sleep(PUBLISH_SECONDS * 500 / len(events))
            except Exception as e:  # the broker went away mid-chunk
                chaos.publish_retries += 1
                chaos.errors.append(f"publish: {type(e).__name__}")
                time.sleep(1.0)
    finally:
        done.set()


def counts(db) -> dict[str, int]:
    with db() as session:
        events = dict(session.execute(select(Event.status, func.count()).group_by(Event.status)).all())
        deliveries = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    return {f"events_{k}": v for k, v in events.items()} | {f"deliveries_{k}": v for k, v in deliveries.items()}


def safe_counts(db) -> dict[str, int]:
    try:
        return counts(db)
    except Exception as e:  # the figures of a failed run must not hide its error
        return {"error": type(e).__name__}


def settled(db, unique: int) -> bool:
    try:
        found = counts(db)
    except Exception:  # PostgreSQL restarting
        return False
    waiting = found.get("deliveries_queued", 0) + found.get("deliveries_sent", 0) + found.get("deliveries_held", 0)
    return found.get("events_processed", 0) == unique and waiting == 0


def dead_lettered(broker_url: str) -> int:
    with connect(broker_url) as connection:
        declare(connection)
        return connection.default_channel.queue_declare(DEAD_QUEUE_NAME, passive=True).message_count


@pytest.mark.timeout(600)
def test_nothing_is_lost_when_processes_are_killed_and_services_restart(
    db, sandbox, service_env, processes, supervised, services_restored, figures
):
    events, deliberate_duplicates = generate()
    unique = len({e["messageId"] for e in events})
    expected = expected_contacts(events)
    installed = cli(service_env, "install", "--api-key", sandbox.key, "--default-list-id", sandbox.list_id)
    assert installed.returncode == 0, installed.stderr

    with connect(service_env["BROKER_URL"]) as connection:
        declare(connection)
        connection.default_channel.queue_purge(DEAD_QUEUE_NAME)  # only what this test sets aside counts
    rng = random.Random(11)
    chaos = Chaos()
    supervised.ensure()
    started = time.monotonic()
    published = threading.Event()
    publisher = threading.Thread(
        target=publish_all, args=(service_env["BROKER_URL"], events, chaos, published), daemon=True
    )
    publisher.start()

    # Chaos: a SIGKILL every 1.5-4 s on a random target, the broker restarted at the 3rd kill and the database
    # at the 7th; dead processes are restarted at once (a supervisor's Restart=always).
    while chaos.total_kills < MIN_KILLS or (MIN_KILLS and len(chaos.restarts) < 2):
        assert time.monotonic() - started < 300, f"chaos phase too long: {chaos}"
        time.sleep(rng.uniform(1.5, 4.0))
        supervised.ensure()
        target = rng.choice(["ingest", "worker", "worker_child"]) if chaos.total_kills != 4 else "beat"
        if target == "ingest":
            kill_tree(supervised.ingest)
        elif target == "beat":
            kill_tree(supervised.beat)
        elif target == "worker":
            kill_tree(supervised.worker)
        else:
            pool = descendants(supervised.worker.pid)
            if not pool:
                continue
            sigkill(rng.choice(pool))  # a pool process dies mid-task: reject_on_worker_lost gives the task back
        chaos.kills[target] += 1
        time.sleep(rng.uniform(0.0, 1.0))
        supervised.ensure()
        if chaos.total_kills == 3 and "rabbitmq" not in chaos.restarts:
            chaos.restarts["rabbitmq"] = round(restart_rabbitmq(down_seconds=2), 1)
        if chaos.total_kills == 7 and "postgresql" not in chaos.restarts:
            chaos.restarts["postgresql"] = round(restart_postgres(down_seconds=3), 1)
    chaos_seconds = time.monotonic() - started

    assert published.wait(120), "publishing did not finish"
    publisher.join(10)

    def recovered() -> bool:
        supervised.ensure()  # a process that died on its own is restarted (and counted) too
        return settled(db, unique)

    try:
        wait_until(recovered, 240, "every event processed and every delivery settled")
    finally:
        figures.update(
            events_published=len(events),
            unique_events=unique,
            emails=len(expected),
            kills=chaos.kills,
            total_kills=chaos.total_kills,
            restarts_seconds=chaos.restarts,
            process_starts=supervised.starts,
            publish_chunks_retried=chaos.publish_retries,
            state=safe_counts(db),
        )
    recovery_seconds = time.monotonic() - started - chaos_seconds

    actual = {c["email"]: observed(c) for c in sandbox.contacts()}
    missing = sorted(set(expected) - set(actual))
    wrong = sorted(email for email in expected if email in actual and actual[email] != expected[email])
    with db() as session:
        orders = session.scalar(select(func.count()).select_from(Order))
        stored = session.scalar(select(func.count()).select_from(Event))
        delivered_events = session.scalar(select(func.count(func.distinct(Delivery.event_id))))
        deliveries = session.scalar(select(func.count()).select_from(Delivery))
        rejected = session.scalar(select(func.count()).select_from(Event).where(Event.status != EventStatus.PROCESSED))
    ingest = ingest_counts(log_of(processes, "ingest"))
    tasks = task_redeliveries(log_of(processes, "worker"))
    order_messages = sum(1 for e in events if e.get("event") == "Order Completed")
    puts = [r for r in sandbox.requests_log() if r["method"] == "PUT"]
    figures.update(
        chaos_seconds=round(chaos_seconds, 1),
        recovery_seconds=round(recovery_seconds, 1),
        events_lost=len(missing) + (unique - stored),
        contacts_expected=len(expected),
        contacts_wrong=len(wrong),
        ingest_messages_committed=ingest["messages"],
        ingest_redeliveries=ingest["redelivered"],
        duplicates_absorbed_by_message_id=ingest["messages"] - unique,
        deliberate_duplicates_published=deliberate_duplicates,
        celery_tasks_received=tasks["tasks_received"],
        celery_task_redeliveries=tasks["tasks_redelivered"],
        order_messages=order_messages,
        orders_counted=orders,
        repeated_orders_absorbed=order_messages - orders,
        dead_lettered=dead_lettered(service_env["BROKER_URL"]),
        put_requests=len(puts),
    )
    assert chaos.total_kills >= 10
    assert not missing, f"{len(missing)} contacts missing, e.g. {missing[:3]}"
    assert not wrong, "; ".join(f"{e}: expected {expected[e]}, got {actual[e]}" for e in wrong[:3])
    assert set(actual) == set(expected)
    assert stored == unique == delivered_events == deliveries, "every event stored once, with exactly one delivery"
    assert rejected == 0
    assert orders == len({e["properties"]["order_id"] for e in events if e.get("event") == "Order Completed"})
    assert figures["dead_lettered"] == 0
    assert supervised.alive()
