"""Issue #13, the proof: SendGrid ends up exactly right under concurrency.

A seeded stream (tests/reliability/model.py) of REFERENCE_EVENTS events (default 20,000; 5,000 when CI=true) of
a tenth as many people flows through the real pipeline: RabbitMQ, one ingest consumer (--batch-ms 100), a Celery
worker with 4 pool processes, Celery beat, the sandbox over HTTP. The publish order is shaped to hit the races
(held events released in the same batch as fresh ones, one person's events in concurrent batches, arrival order
unlike timestamp order), and one event each of 4% of the people is dated in 2999 (it counts at its arrival). Once
everything settled, every modeled field of every contact, list membership and the unsubscribe group are compared
with the reference model, which shares no code with the product; so is the count of events clamped to arrival.

Variants: calm; chaos (SIGKILLs of ingest, the worker, pool processes and beat, a RabbitMQ and a PostgreSQL
restart); sendgrid_faults (25% 503s, connection resets, a 429 storm). For example:

    REFERENCE_EVENTS=5000 .venv/bin/python -m pytest tests/reliability/test_reference_model.py -k calm
    .venv/bin/python -m pytest tests/reliability/test_reference_model.py -k "chaos or sendgrid_faults"

REFERENCE_SEED picks another stream. On failure, up to 5 differing contacts are shown with their deliveries, and
every difference is written to differences.json in the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, or_, select

from models import Contact, Delivery, Event, Order
from tests.fixtures.processes import cli
from tests.helpers.reliability import (
    Supervised,
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
from tests.reliability.model import MODELED, Difference, Expected, Stream, differences, expect, generate
from workers.ingest.wire import DEAD_QUEUE_NAME, connect, declare, publish_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CI = os.environ.get("CI", "").lower() == "true"
EVENTS = int(os.environ.get("REFERENCE_EVENTS") or (5_000 if CI else 20_000))
SEED = int(os.environ.get("REFERENCE_SEED", 13))
CHUNK = 50  # events per publish call: with --batch-ms 100, many small ingest batches and process tasks
PUBLISH_SECONDS = {"calm": max(5.0, EVENTS / 1000), "chaos": 45.0, "sendgrid_faults": max(20.0, EVENTS / 700)}
MIN_KILLS = 12
SETTLE_SECONDS = 420
GRACE_SECONDS = 30  # once nothing is queued: how long held deliveries and suppressions may take to settle
FAULTS = {"error_rate": 0.25, "error_status": 503, "reset_rate": 0.05, "seed": SEED}
SHOWN = 5  # differing contacts shown in full on failure


@pytest.fixture
def pipeline(processes) -> Iterator[Supervised]:
    """test_crashes' supervised processes, with 4 pool processes: batches of one person run at the same time."""
    running = Supervised(processes, concurrency=4)
    yield running
    for proc in processes.running:  # orphaned pool processes of killed workers too
        for pid in descendants(proc.pid):
            sigkill(pid)


# --- publishing -------------------------------------------------------------------------------------------------


@dataclass
class Publishing:
    total: int  # events in the stream
    seconds: float  # how long publishing should take
    done: threading.Event = field(default_factory=threading.Event)
    confirmed: int = 0  # events of the stream confirmed so far, in order
    retries: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0


def publish_paced(broker_url: str, events: list[dict], run: Publishing) -> None:
    """Small chunks with confirms, paced to flow for `run.seconds`; a chunk cut by a broker restart is published
    again (its duplicates are absorbed by messageId), so a confirmed event is never skipped."""
    started = time.monotonic()
    try:
        while run.confirmed < run.total:
            try:
                with connect(broker_url) as connection:
                    connection.ensure_connection(max_retries=60, interval_start=0.5, interval_step=0.5, interval_max=2)
                    declare(connection)
                    while run.confirmed < run.total:
                        publish_events(connection, events[run.confirmed : run.confirmed + CHUNK])
                        run.confirmed = min(run.confirmed + CHUNK, run.total)
                        due = started + run.seconds * run.confirmed / run.total
                        time.sleep(max(0.005, due - time.monotonic()))
            except Exception as e:  # the broker went away mid-chunk
                run.retries += 1
                run.errors.append(f"publish: {type(e).__name__}")
                time.sleep(1.0)
    finally:
        run.elapsed = time.monotonic() - started
        run.done.set()


# --- what happens while the stream flows -----------------------------------------------------------------------


def calm(run: Publishing, pipeline: Supervised, sandbox, figures) -> None:
    assert run.done.wait(300), "publishing did not finish"


def chaos(run: Publishing, pipeline: Supervised, sandbox, figures) -> None:
    """test_crashes' chaos: a SIGKILL every 1.5-4 s on a random target (beat at the 5th), the broker restarted at
    the 3rd kill and the database at the 7th; dead processes are restarted at once (Restart=always)."""
    rng = random.Random(SEED)
    kills = {"ingest": 0, "worker": 0, "worker_child": 0, "beat": 0}
    restarts: dict[str, float] = {}
    started = time.monotonic()
    while sum(kills.values()) < MIN_KILLS or len(restarts) < 2:
        assert time.monotonic() - started < 300, f"chaos phase too long: {kills} {restarts}"
        time.sleep(rng.uniform(1.5, 4.0))
        pipeline.ensure()
        target = rng.choice(["ingest", "worker", "worker_child"]) if sum(kills.values()) != 4 else "beat"
        if target == "worker_child":
            pool = descendants(pipeline.worker.pid)
            if not pool:
                continue
            sigkill(rng.choice(pool))  # a pool process dies mid-task: reject_on_worker_lost gives the task back
        else:
            kill_tree(getattr(pipeline, target))
        kills[target] += 1
        time.sleep(rng.uniform(0.0, 1.0))
        pipeline.ensure()
        if sum(kills.values()) == 3 and "rabbitmq" not in restarts:
            restarts["rabbitmq"] = round(restart_rabbitmq(down_seconds=2), 1)
        if sum(kills.values()) == 7 and "postgresql" not in restarts:
            restarts["postgresql"] = round(restart_postgres(down_seconds=3), 1)
    figures.update(
        kills=kills,
        total_kills=sum(kills.values()),
        restarts_seconds=restarts,
        chaos_seconds=round(time.monotonic() - started, 1),
    )
    assert run.done.wait(300), "publishing did not finish"


def sendgrid_faults(run: Publishing, pipeline: Supervised, sandbox, figures) -> None:
    """25% 503s and 5% connection resets on every SendGrid path from the start, a 429 storm once half the stream
    is published; all cleared once publishing is done (the test then waits for everything to settle)."""
    sandbox.set_faults(**FAULTS)
    wait_until(lambda: run.confirmed >= run.total // 2 or run.done.is_set(), 300, "half the stream published")
    sandbox.set_faults(**FAULTS, storm_429={"seconds": 5})
    figures["storm_429_at_event"] = run.confirmed
    assert run.done.wait(300), "publishing did not finish"
    sandbox.clear_faults()


VARIANTS = {"calm": calm, "chaos": chaos, "sendgrid_faults": sendgrid_faults}


# --- reading the outcome ---------------------------------------------------------------------------------------


def counts(db) -> dict[str, int]:
    with db() as session:
        events = session.execute(select(Event.status, func.count()).group_by(Event.status)).all()
        deliveries = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        unsynced = session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(
                or_(
                    Contact.consent.is_(False) & Contact.suppressed.is_(False),
                    Contact.consent.is_(True) & Contact.suppressed.is_(True),
                )
            )
        )
    found = {f"events_{s}": n for s, n in events} | {f"deliveries_{s}": n for s, n in deliveries}
    return found | {"consent_changes_not_synced": unsynced}


def safe_counts(db) -> dict[str, int]:
    try:
        return counts(db)
    except Exception as e:  # PostgreSQL restarting; the figures of a failed run must not hide its error
        return {"error": type(e).__name__}


def drained(found: dict[str, int], unique: int) -> bool:
    """Every unique event stored and processed (or set aside), nothing queued, nothing waiting for its import."""
    stored = sum(n for k, n in found.items() if k.startswith("events_"))
    waiting = found.get("events_received", 0) + found.get("deliveries_queued", 0) + found.get("deliveries_sent", 0)
    return stored == unique and waiting == 0


def settled(found: dict[str, int], expected: Expected) -> bool:
    return found.get("deliveries_held", 0) == expected.held and found["consent_changes_not_synced"] == 0


def sandbox_date(value: object) -> object:
    """The sandbox stores a Date field as 'YYYY-MM-DDT00:00:00Z'; the model speaks of the date."""
    text = str(value)
    return text[:10] if re.fullmatch(r"\d{4}-\d{2}-\d{2}T00:00:00Z", text) else value


def observed(contact: dict) -> dict:
    values = {"first_name": contact.get("first_name"), **(contact.get("custom_fields") or {})}
    found = {name: values[name] for name in MODELED if values.get(name) not in (None, "")}
    if "lifetime_value" in found:
        found["lifetime_value"] = Decimal(str(found["lifetime_value"]))  # exact: compared as decimals
    if "last_purchase_at" in found:
        found["last_purchase_at"] = sandbox_date(found["last_purchase_at"])
    return found


def crossed_midnight(difference: Difference, arrival: datetime) -> bool:
    """An order dated ahead is dated on the day it arrived; the model says the day the run began, and a run
    across midnight (UTC) may have it arrive on the next: that day is not a difference."""
    return (
        difference.kind == "last_purchase_at:wrong"
        and difference.expected == arrival.date().isoformat()
        and difference.actual == (arrival + timedelta(days=1)).date().isoformat()
        and datetime.now(UTC).date() > arrival.date()
    )


def dead_lettered(broker_url: str) -> int:
    with connect(broker_url) as connection:
        declare(connection)
        return connection.default_channel.queue_declare(DEAD_QUEUE_NAME, passive=True).message_count


_BACKSTOP = re.compile(r"sweep released (\d+) held deliveries")
_TASK_DONE = re.compile(
    r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[\w-]+\] Task signal\.process_events\[[0-9a-f-]+\] "
    r"succeeded in ([\d.]+)s"
)


def process_concurrency(worker_log: str) -> dict[str, float]:
    """Process tasks that ran, and how many ran at the same time at most (from the worker's log)."""
    spans = []
    for stamp, seconds in _TASK_DONE.findall(worker_log):
        end = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        spans.append((end - float(seconds), end))
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    mean = sum(end - start for start, end in spans) / len(spans) if spans else 0.0
    return {"process_tasks": len(spans), "max_concurrent_process_tasks": most, "mean_process_task_s": round(mean, 3)}


# --- diagnosis ----------------------------------------------------------------------------------------------------


def explain(db, stream: Stream, expected: Expected, found: list[Difference], contacts: dict[str, dict]) -> str:
    """Up to SHOWN differing contacts: what the model expects, what the sandbox holds, and their deliveries."""
    people = {p.email: p for p in stream.people}
    by_email: dict[str, list[Difference]] = {}
    for difference in found:
        by_email.setdefault(difference.email, []).append(difference)
    lines = [f"{len(found)} differences on {len(by_email)} contacts: {dict(Counter(d.kind for d in found))}"]
    for email in list(by_email)[:SHOWN]:
        person = people.get(email)
        about = f" ({person.kind}, published {person.pattern}, consents {person.consents}, ahead {person.ahead})"
        about = about if person else ""
        lines.append(f"- {email}{about}:")
        lines += [f"    {d.kind}: expected {d.expected!r}, got {d.actual!r}" for d in by_email[email]]
        lines.append(f"    expected: {expected.contacts.get(email)}, in list: {email in expected.listed}")
        shown = contacts.get(email)
        lines.append(f"    sandbox:  {observed(shown) if shown else None}, lists: {shown and shown.get('list_ids')}")
        lines += [f"    {row}" for row in deliveries_of(db, person, email)]
    return "\n".join(lines)


def deliveries_of(db, person, email: str) -> list[str]:
    keys = [Delivery.email == email]
    if person is not None:
        keys += [Delivery.user_id == person.user_id, Delivery.anonymous_id.in_(person.anonymous_ids)]
    try:
        with db() as session:
            rows = session.execute(
                select(Delivery.id, Delivery.status, Delivery.kind, Delivery.event_at, Delivery.patch, Delivery.reason)
                .where(or_(*keys))
                .order_by(Delivery.event_at)
            ).all()
    except Exception as e:
        return [f"(deliveries unreadable: {type(e).__name__})"]
    return [
        f"delivery {r.id} {r.status} {r.kind} at {r.event_at:%Y-%m-%d %H:%M:%S} patch={json.dumps(r.patch)}"
        f"{' (' + r.reason + ')' if r.reason else ''}"
        for r in rows
    ]


def stuck_held(db, expected: Expected) -> list[str]:
    """Held deliveries the model says an identify resolves (a release that never happened)."""
    with db() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.kind, Delivery.user_id, Delivery.anonymous_id, Delivery.event_at)
            .where(Delivery.status == "held")
            .order_by(Delivery.id)
        ).all()
    stuck = []
    for row in rows:
        email = expected.links.get(("user", row.user_id)) or expected.links.get(("anonymous", row.anonymous_id))
        if email:
            stuck.append(
                f"delivery {row.id} {row.kind} user={row.user_id} anonymous={row.anonymous_id} "
                f"at {row.event_at:%Y-%m-%d %H:%M:%S}: the model resolves it to {email}"
            )
    return stuck


# --- the test -------------------------------------------------------------------------------------------------------


@pytest.mark.timeout(900)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_sendgrid_ends_up_exactly_as_the_reference_model_says(
    variant, db, sandbox, service_env, processes, pipeline, services_restored, figures
):
    stream = generate(EVENTS, SEED)
    arrival = datetime.now(UTC)  # before any event arrives: the model's bound for the events dated ahead
    expected = expect(stream.events, arrival)
    figures.update(
        variant=variant,
        events_published=len(stream.events),
        unique_events=expected.unique,
        seed=SEED,
        **stream.figures(),
    )
    installed = cli(
        service_env,
        "install",
        "--api-key",
        sandbox.key,
        "--default-list-id",
        sandbox.list_id,
        "--unsubscribe-group-id",
        str(sandbox.group_id),
    )
    assert installed.returncode == 0, installed.stderr
    with connect(service_env["BROKER_URL"]) as connection:
        declare(connection)
        connection.default_channel.queue_purge(DEAD_QUEUE_NAME)  # only what this test sets aside counts

    pipeline.ensure()
    started = time.monotonic()
    run = Publishing(len(stream.events), PUBLISH_SECONDS[variant])
    publisher = threading.Thread(
        target=publish_paced, args=(service_env["BROKER_URL"], stream.events, run), daemon=True
    )
    publisher.start()
    VARIANTS[variant](run, pipeline, sandbox, figures)
    publisher.join(10)
    published_at = time.monotonic() - started

    def drained_now() -> bool:
        pipeline.ensure()  # a process that died on its own is restarted (and counted) too
        try:
            return drained(counts(db), expected.unique)
        except Exception:  # PostgreSQL restarting
            return False

    try:
        wait_until(drained_now, SETTLE_SECONDS, "every event processed and no delivery queued or sent")
        drained_at = time.monotonic() - started
        # Held deliveries and suppressions: waited for a little longer, then compared (a stuck one is reported).
        deadline = time.monotonic() + GRACE_SECONDS
        while not settled(counts(db), expected) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        figures.update(
            publish_seconds=round(run.elapsed, 1),
            publish_retries=run.retries,
            process_starts=pipeline.starts,
            state=safe_counts(db),
        )
    settled_at = time.monotonic() - started

    sandbox.flush_jobs()
    contacts = {c["email"]: c for c in sandbox.contacts()}
    suppressions = sandbox.suppressions()
    found = differences(
        expected,
        {email: observed(c) for email, c in contacts.items()},
        {email for email, c in contacts.items() if sandbox.list_id in (c.get("list_ids") or [])},
        set(suppressions["groups"].get(str(sandbox.group_id), [])),
    )
    found += [Difference(email, "suppression:global") for email in suppressions["global"]]
    found = [d for d in found if not crossed_midnight(d, arrival)]
    state = counts(db)
    with db() as session:
        stored = session.scalar(select(func.count()).select_from(Event))
        deliveries = session.scalar(select(func.count()).select_from(Delivery))
        delivered_events = session.scalar(select(func.count(func.distinct(Delivery.event_id))))
        orders = session.scalar(select(func.count()).select_from(Order))
        clamped = session.scalar(select(func.count()).select_from(Event).where(Event.clock_clamped_from.is_not(None)))
    ingest = ingest_counts(log_of(processes, "ingest"))
    people = {p.email: p for p in stream.people}
    figures.update(
        contacts_expected=len(expected.contacts),
        contacts_compared=sum(1 for email in expected.contacts if email in contacts),
        contacts_in_sandbox=len(contacts),
        withdrawn_expected=len(expected.withdrawn),
        differences=len(found),
        contacts_with_differences=len({d.email for d in found}),
        difference_kinds=dict(Counter(d.kind for d in found)),
        differing_people_by_pattern=dict(Counter(people[e].pattern for e in {d.email for d in found} if e in people)),
        differing_people_by_kind=dict(Counter(people[e].kind for e in {d.email for d in found} if e in people)),
        held_expected=expected.held,
        held=state.get("deliveries_held", 0),
        orders_expected=expected.orders,
        orders_stored=orders,
        clamped_expected=expected.clamped,
        clamped_stored=clamped,
        ingest_batches=len(re.findall(r"batch of \d+ messages", log_of(processes, "ingest"))),
        ingest_redeliveries=ingest["redelivered"],
        **process_concurrency(log_of(processes, "worker")),
        celery_task_redeliveries=task_redeliveries(log_of(processes, "worker"))["tasks_redelivered"],
        sandbox_requests=dict(Counter(f"{r['method']} {r['status'] or r['fault']}" for r in sandbox.requests_log())),
        dead_lettered=dead_lettered(service_env["BROKER_URL"]),
        drained_seconds=round(drained_at, 1),
        settled_seconds=round(settled_at, 1),
        after_publish_seconds=round(settled_at - published_at, 1),
        state=state,
    )

    # The test itself is sound: the stream exercises what it claims, and nearly everyone is compared.
    assert len(expected.contacts) > 0.9 * len(stream.people)
    assert expected.held > 0 and expected.withdrawn and stream.duplicates and stream.resent_orders
    problems = []
    if found:
        every = processes.logs / "differences.json"  # every difference, for a closer look
        rows = [asdict(d) | {"person": asdict(people[d.email]) if d.email in people else None} for d in found]
        every.write_text(json.dumps(rows, default=str, indent=1))
        problems.append(f"{explain(db, stream, expected, found, contacts)}\n(all of them: {every})")
    held = state.get("deliveries_held", 0)
    if held != expected.held:
        stuck = stuck_held(db, expected)
        examples = "".join(f"\n  {line}" for line in stuck[:SHOWN])
        problems.append(f"{held} held deliveries, the model says {expected.held}; {len(stuck)} of them are resolved")
        problems[-1] += f" by an identify in the stream, e.g.{examples}"
    if not stored == deliveries == delivered_events == expected.unique:
        problems.append(
            f"{stored} events stored, {deliveries} deliveries of {delivered_events} events, "
            f"for {expected.unique} unique events: each must be stored once with one delivery"
        )
    bad = {
        k: n
        for k, n in state.items()
        if k in ("events_rejected", "events_failed", "deliveries_failed", "deliveries_import_errored") and n
    }
    if bad:
        problems.append(f"events or deliveries that failed: {bad}")
    if clamped != expected.clamped:
        problems.append(f"{clamped} events with clock_clamped_from, the model says {expected.clamped} dated ahead")
    if orders != expected.orders:
        problems.append(f"{orders} orders stored, the model says {expected.orders} distinct delivered orders")
    backstop = [int(n) for n in _BACKSTOP.findall(log_of(processes, "worker"))]
    figures["released_by_sweep_backstop"] = sum(backstop)
    if backstop:  # the identity locks must release every held delivery; the sweep's backstop must find none
        problems.append(f"the sweep's backstop released {sum(backstop)} held deliveries the locks missed")
    if figures["dead_lettered"]:
        problems.append(f"{figures['dead_lettered']} messages dead-lettered")
    if variant == "chaos" and figures["total_kills"] < 10:
        problems.append(f"only {figures['total_kills']} kills")
    if variant == "sendgrid_faults":
        faults = Counter(r["fault"] for r in sandbox.requests_log())
        if not (faults["error"] and faults["storm"]):  # resets (5%) are counted in the figures
            problems.append(f"the faults did not all happen: {dict(faults)}")
    assert not problems, "\n\n".join(problems)
    assert pipeline.alive()
