"""Issue #7, hostile input: 10,000+ malformed messages, published as raw bytes, through the real ingest process.

Every message must end as an `events` row that is rejected with a reason or processed; no process dies; the
valid events among them reach SendGrid (the sandbox).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable

import pytest
import requests
from kombu import Producer
from sqlalchemy import func, select

from models import Delivery, DeliveryStatus, Event, EventStatus
from tests.fixtures.processes import BIN, answers, cli, free_port, wait_for
from tests.helpers.api import TOKEN
from tests.helpers.cli import invoke
from tests.helpers.reliability import Supervised, all_logs
from workers.ingest.wire import connect, declare, events_exchange

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = 10_400
VALID_SHARE = 0.08
BIG = 5  # bodies of several MB


def hostile(i: int, rng: random.Random) -> tuple[str, bytes, str | None]:
    """(kind, body bytes, AMQP message_id or None): one malformed message, unique by its index."""
    mid = f"h-{i}"
    email = {"email": f"hostile-{i}@example.com"}
    kind = rng.choice(
        [
            "wrong_types", "huge_string", "deep_nesting", "deep_nesting_parsable", "invalid_utf8", "missing_ids",
            "not_json", "not_object", "nul_and_surrogates", "bad_values", "unknown_type", "empty",
        ]
    )  # fmt: skip
    if kind == "wrong_types":
        body = rng.choice(
            [
                {"messageId": [mid], "type": "identify", "traits": email},
                {"messageId": mid, "type": 42, "traits": email},
                {"messageId": mid, "type": "identify", "traits": ["a", "b"]},
                {"messageId": mid, "type": "page", "userId": True, "properties": "x"},
                {"messageId": mid, "type": "track", "event": {"n": 1}, "userId": "u", "properties": []},
                {"messageId": mid, "type": "identify", "userId": {"id": 1}, "traits": email, "timestamp": 17},
                {"messageId": mid, "type": "identify", "traits": {"email": 12345}, "context": "ctx"},
            ]
        )
    elif kind == "huge_string":
        size = rng.choice([10_000, 100_000, 300_000])
        body = {"messageId": mid, "type": "identify", "userId": f"u{i}", "traits": {**email, "first_name": "x" * size}}
    elif kind == "deep_nesting":
        depth = rng.choice([2_000, 20_000])
        return kind, (f'{{"messageId":"{mid}","type":"identify","traits":' + '{"a":' * depth + "1" + "}" * depth
                      + "}").encode(), None  # fmt: skip
    elif kind == "deep_nesting_parsable":
        nested: object = "leaf"
        for _ in range(rng.choice([50, 200])):
            nested = {"n": nested}
        body = {"messageId": mid, "type": "identify", "userId": f"u{i}", "traits": {**email, "deep": nested}}
    elif kind == "invalid_utf8":
        raw = json.dumps({"messageId": mid, "type": "identify", "traits": email}).encode()
        cut = rng.randrange(1, len(raw) - 1)
        return (
            kind,
            raw[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80"]) + raw[cut:],
            None,
        )
    elif kind == "missing_ids":
        body = rng.choice(
            [
                {"type": "identify", "traits": {**email, "n": i}},
                {"messageId": "", "type": "page", "properties": {"url": f"https://x.example/{i}"}},
                {"messageId": "   ", "type": "identify", "traits": {"n": i}},
                {"messageId": mid, "type": "identify", "traits": {"first_name": "No id"}},  # no user/email
            ]
        )
        return kind, json.dumps(body).encode(), None
    elif kind == "not_json":
        return kind, rng.choice([b"{oops", b"<xml/>", b"\x00\x01\x02", b"{'single': 'quotes'}"]) + str(i).encode(), None
    elif kind == "not_object":
        return kind, json.dumps(rng.choice([[i, "list"], f"string {i}", i, i + 0.5])).encode() + b" " * (i % 3), None
    elif kind == "nul_and_surrogates":
        body = {
            "messageId": mid,
            "type": "identify",
            "userId": f"u\u0000{i}",
            "traits": {**email, "first_name": "A\ud800B\u0000"},
        }
    elif kind == "bad_values":
        body = rng.choice(
            [
                {"messageId": mid, "type": "identify", "traits": {"email": "not-an-email"}},
                {"messageId": mid, "type": "identify", "traits": {"email": "a" * 300 + "@example.com"}},
                {"messageId": mid, "type": "track", "event": "Order Completed", "userId": "u",
                 "context": {"traits": email}, "properties": {"order_id": f"o{i}", "revenue": "12,50"}},
                {"messageId": mid, "type": "identify", "traits": email, "timestamp": "05/01/2024"},
                {"messageId": mid, "type": "identify", "traits": email, "context": {"consent": {"marketing": "maybe"}}},
                {"messageId": mid, "type": "identify", "traits": email, "integrations": {"SendGrid": "no"}},
                {"messageId": mid, "type": "track", "userId": "u", "context": {"traits": email}},
                {"messageId": "m" * 250 + str(i), "type": "identify", "traits": email},
            ]
        )  # fmt: skip
    elif kind == "unknown_type":
        body = {"messageId": mid, "type": rng.choice(["purchase", "", "IDENTIFY!", "x" * 100]), "traits": email}
    else:
        return kind, b"", f"empty-{i}"
    return kind, json.dumps(body).encode(), rng.choice([None, mid])


def big(i: int) -> tuple[str, bytes, str | None]:
    """A body of several MB: a valid identify with one huge trait, or a huge JSON array."""
    mb = 2 + i % 4
    if i % 2:
        body = {"messageId": f"big-{i}", "type": "identify", "userId": f"big{i}",
                "traits": {"email": f"big-{i}@example.com", "notes": "n" * (mb * 1_000_000)}}  # fmt: skip
        return "several_mb_valid", json.dumps(body).encode(), None
    return "several_mb_array", json.dumps([i] + ["x" * 1000] * (mb * 1000)).encode(), None


def valid(i: int) -> tuple[str, bytes, str | None]:
    body = {"messageId": f"ok-{i}", "type": "identify", "userId": f"ok{i}", "traits": {"email": f"ok-{i}@example.com",
            "first_name": f"Ok{i}"}}  # fmt: skip
    return "valid", json.dumps(body).encode(), f"ok-{i}"


def settled(db, expected: int) -> bool:
    with db() as session:
        events = session.scalar(select(func.count()).select_from(Event))
        received = session.scalar(select(func.count()).select_from(Event).where(Event.status == EventStatus.RECEIVED))
        waiting = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENT)))
        )
    return events == expected and received == 0 and waiting == 0


@pytest.mark.timeout(600)
def test_malformed_messages_end_rejected_with_a_reason_or_mapped_and_nothing_dies(
    db, sandbox, service_env, processes, figures
):
    installed = cli(service_env, "install", "--api-key", sandbox.key, "--default-list-id", sandbox.list_id)
    assert installed.returncode == 0, installed.stderr
    rng = random.Random(1312)
    messages = [valid(i) if rng.random() < VALID_SHARE else hostile(i, rng) for i in range(MESSAGES)]
    messages += [big(i) for i in range(BIG)]
    rng.shuffle(messages)
    ingest, worker = processes.ingest(), processes.worker()

    started = time.monotonic()
    with connect(service_env["BROKER_URL"]) as connection:
        declare(connection)
        producer = Producer(connection.default_channel, exchange=events_exchange)
        for _kind, body, message_id in messages:
            producer.publish(
                body,
                routing_key="hostile",
                content_type="application/json",
                content_encoding="binary",  # raw bytes, as any producer could send them
                delivery_mode=2,
                message_id=message_id,
            )
    publish_seconds = time.monotonic() - started
    try:
        # Identical bodies that are not events are one row: keyed by their sha256, never by a producer's id (#21).
        rows = len(messages) - max(0, sum(kind == "empty" for kind, _, _ in messages) - 1)
        wait_for(lambda: settled(db, rows), timeout=240, interval=1, what="every message stored and settled")
    finally:
        settle_seconds = time.monotonic() - started
        with db() as session:
            statuses = Counter(str(s) for s in session.scalars(select(Event.status)))
            no_reason = session.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.status == EventStatus.REJECTED, Event.reason.is_(None))
            )
            reasons = Counter(
                (r or "").split(":")[0][:40]
                for r in session.scalars(select(Event.reason).where(Event.status == EventStatus.REJECTED))
            )
        contacts = {c["email"] for c in sandbox.contacts()}
        valid_emails = {json.loads(b)["traits"]["email"] for k, b, _ in messages if k == "valid"}
        figures.update(
            messages=len(messages),
            kinds=dict(Counter(k for k, _, _ in messages)),
            megabytes_published=round(sum(len(b) for _, b, _ in messages) / 1e6, 1),
            publish_seconds=round(publish_seconds, 1),
            settle_seconds=round(settle_seconds, 1),
            event_rows=sum(statuses.values()),
            event_statuses=dict(statuses),
            top_reject_reasons=dict(reasons.most_common(8)),
            valid_events=len(valid_emails),
            valid_delivered=len(valid_emails & contacts),
            ingest_alive=ingest.poll() is None,
            worker_alive=worker.poll() is None,
        )
    assert ingest.poll() is None and worker.poll() is None, "a process died"
    assert set(statuses) <= {"rejected", "processed"}, statuses
    assert no_reason == 0
    assert valid_emails <= contacts, f"{len(valid_emails - contacts)} valid events not delivered"
    assert "Traceback" not in (processes.logs / "ingest.log").read_text(errors="replace")


# --- Issue #21: numbers checked once, at the door --------------------------------------------------------------

GOOD = 600
POISON = ["0.1e99999", "1e309", "-1e309", "0.1e99999", "1e-400", "NaN", "Infinity", "9" * 5000, "-2e99999", "1e5000"]
SANE = 45.0  # seconds: every good event in SendGrid within this, and within twice the time without poison
GRAIN = 1.0  # seconds of measuring grain added to twice the clean time: ingest's 100 ms window, flush rounds, polls
ROUNDS = 2  # clean and poisoned runs alternate, so a busy moment of the (shared, 2-core) machine hits both


def good_event(run: str, i: int) -> bytes:
    traits = {"email": f"{run}-{i}@example.com", "first_name": f"Ok{i}", "ltv": 12.5 + i, "visits": 10**20 + i}
    return json.dumps({"messageId": f"{run}-{i}", "type": "identify", "userId": f"{run}{i}", "traits": traits}).encode()


def poison_event(run: str, i: int) -> bytes:
    head = f'{{"messageId":"{run}-poison-{i}","type":"identify","userId":"{run}p{i}",'
    return f'{head}"traits":{{"email":"{run}-poison-{i}@example.com","ltv":{POISON[i]}}}}}'.encode()


def stream(run: str, poisoned: bool) -> list[tuple[str, bytes]]:
    """GOOD good identifies, the poison spread among them (every 60th) when `poisoned`."""
    bodies = [(f"{run}-{i}", good_event(run, i)) for i in range(GOOD)]
    for n in range(len(POISON) if poisoned else 0):
        bodies.insert(n * (GOOD // len(POISON)) + 30 + n, (f"{run}-poison-{n}", poison_event(run, n)))
    return bodies


def timed(sandbox, run: str, send: Callable[[], object]) -> float:
    """Seconds from the first event sent until every good event of `run` is a contact in the sandbox."""
    wanted = {f"{run}-{i}@example.com" for i in range(GOOD)}
    started = time.monotonic()
    send()
    wait_for(lambda: wanted <= {c["email"] for c in sandbox.contacts()}, timeout=SANE + 30, interval=0.2,
             what=f"the {GOOD} good events of {run} in the sandbox")  # fmt: skip
    return round(time.monotonic() - started, 2)


def publish_amqp(broker_url: str, bodies: list[tuple[str, bytes]]) -> None:
    with connect(broker_url) as connection:
        declare(connection)
        producer = Producer(connection.default_channel, exchange=events_exchange)
        for message_id, body in bodies:
            producer.publish(body, routing_key="identify", content_type="application/json",
                             content_encoding="binary", delivery_mode=2, message_id=message_id)  # fmt: skip


def post_http(base: str, bodies: list[tuple[str, bytes]]) -> dict[str, requests.Response]:
    """Each event its own POST /v1/events (a batch is all or nothing: one poison would refuse its batch-mates)."""
    replies = {}
    with requests.Session() as http:
        http.headers.update({"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        for message_id, body in bodies:
            replies[message_id] = http.post(base + "/v1/events", data=body, timeout=30)
    return replies


@pytest.fixture
def pipeline(db, sandbox, service_env, supervised) -> Supervised:
    """Ingest, a Celery worker (2 processes) and beat, as the Procfile runs them, installed and warmed up."""
    installed = cli(service_env, "install", "--api-key", sandbox.key, "--default-list-id", sandbox.list_id)
    assert installed.returncode == 0, installed.stderr
    supervised.ensure()
    warm = [("warm-0", json.dumps({"messageId": "warm-0", "type": "identify", "userId": "w",
                                   "traits": {"email": "warm@example.com"}}).encode())]  # fmt: skip
    publish_amqp(service_env["BROKER_URL"], warm)
    wait_for(lambda: sandbox.contact("warm@example.com"), timeout=90, what="the pipeline to deliver a first event")
    return supervised


def assert_in_time(clean: list[float], poisoned: list[float]) -> None:
    mean_clean, mean_poisoned = sum(clean) / len(clean), sum(poisoned) / len(poisoned)
    assert max(poisoned) <= SANE, f"{poisoned} s with poison"
    assert mean_poisoned <= 2 * mean_clean + GRAIN, f"{poisoned} s with poison, {clean} s without"


def rejected_listing(env: dict[str, str]) -> list[dict]:
    listed = invoke(env, "events", "--status", "rejected", "--limit", "100", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def settled_events(db) -> bool:
    with db() as session:
        return not session.scalar(select(func.count()).select_from(Event).where(Event.status == EventStatus.RECEIVED))


def log_counts(processes) -> dict[str, int]:
    """What the processes logged: tracebacks and the false "worker crashed" reason are what poison used to leave."""
    logs = all_logs(processes)
    return {"tracebacks": logs.count("Traceback"), "worker_crashed": logs.count("worker crashed"),
            "log_lines": logs.count("\n")}  # fmt: skip


@pytest.mark.timeout(300)
def test_poison_numbers_over_amqp_are_refused_at_the_door_and_never_hold_the_good_events(
    db, sandbox, service_env, pipeline, processes, figures
):
    broker = service_env["BROKER_URL"]
    clean, poisoned = [], []
    for n in range(ROUNDS):
        clean.append(timed(sandbox, f"clean{n}", lambda n=n: publish_amqp(broker, stream(f"clean{n}", False))))
        poisoned.append(timed(sandbox, f"amqp{n}", lambda n=n: publish_amqp(broker, stream(f"amqp{n}", True))))
    wait_for(lambda: settled_events(db), timeout=60, what="no event left received")
    listed = [e for e in rejected_listing(service_env) if "-poison-" in e["body"]]
    contacts = {c["email"] for c in sandbox.contacts()}
    figures.update(good=GOOD, poison=len(POISON), clean_seconds=clean, poisoned_seconds=poisoned,
                   rejected=len(listed), reasons=sorted({e["reason"][:60] for e in listed}),
                   attempts=sorted(e["process_attempts"] for e in listed), **log_counts(processes))  # fmt: skip
    assert_in_time(clean, poisoned)
    assert figures["tracebacks"] == 0 and figures["worker_crashed"] == 0
    assert len(listed) == ROUNDS * len(POISON) and all(e["process_attempts"] <= 1 for e in listed)
    assert all(e["reason"].startswith("body refused: ") for e in listed), [e["reason"] for e in listed]
    assert not any("poison" in email for email in contacts)


@pytest.mark.timeout(300)
def test_poison_numbers_over_http_are_refused_with_the_reason_and_never_hold_the_good_events(
    db, sandbox, service_env, pipeline, processes, figures
):
    port = free_port()
    processes.env = {**service_env, "SIGNAL_ADMIN_TOKEN": TOKEN}  # the API's own; supervised processes keep theirs
    processes.start("api", str(BIN / "signal-sendgrid"), "api", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(base + "/openapi.json"), timeout=30, what="the API to answer")
    clean, poisoned, answered = [], [], {}
    for n in range(ROUNDS):
        clean.append(timed(sandbox, f"hclean{n}", lambda n=n: post_http(base, stream(f"hclean{n}", False))))
        send = lambda n=n: answered.update(post_http(base, stream(f"http{n}", True)))  # noqa: E731
        poisoned.append(timed(sandbox, f"http{n}", send))
    refused = {m: a for m, a in answered.items() if "poison" in m}
    contacts = {c["email"] for c in sandbox.contacts()}
    figures.update(good=GOOD, poison=len(POISON), clean_seconds=clean, poisoned_seconds=poisoned,
                   answers=dict(Counter(a.status_code for a in answered.values())),
                   reasons=sorted({a.json()["message"][:70] for a in refused.values()}),
                   **log_counts(processes))  # fmt: skip
    assert_in_time(clean, poisoned)
    assert figures["tracebacks"] == 0 and figures["worker_crashed"] == 0
    assert {a.status_code for m, a in answered.items() if m not in refused} == {202}
    assert len(refused) == ROUNDS * len(POISON) and {a.status_code for a in refused.values()} == {400}
    for answer in refused.values():
        assert answer.json()["message"].startswith("the body is refused: "), answer.json()
    assert not any("poison" in email for email in contacts)
