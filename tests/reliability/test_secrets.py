"""Issue #7, secrets: after a full run with failures (5xx, a revoked key, a wrong key given to update-key), the
API key is nowhere in plain text: not in the logs, any column of any table, the attempt records, the Celery task
messages (what Flower would show), or any CLI and admin API output. The key is stored Fernet-encrypted with
SIGNAL_SECRET_KEY, and the admin API refuses missing or wrong tokens.
"""

from __future__ import annotations

import importlib.util
import json
import time

import pytest
from kombu import Connection
from sqlalchemy import func, select, text

from config.secrets import decrypt_key, mask_key
from models import Base, Event, Integration
from sandbox import make_key
from tests.factories import identify
from tests.fixtures.processes import cli, wait_for
from tests.helpers.cli import invoke
from tests.helpers.reliability import all_logs
from workers.celery import TASK_QUEUE
from workers.ingest.wire import connect, declare, publish_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADMIN_TOKEN = "admin-token-for-the-reliability-tests"
TASKS = {"signal.process_events", "signal.flush_integration", "signal.poll_imports", "signal.sweep"}


def publish(env: dict, events: list[dict], chunks: int = 1) -> None:
    with connect(env["BROKER_URL"]) as connection:
        declare(connection)
        size = -(-len(events) // chunks)
        for start in range(0, len(events), size):
            publish_events(connection, events[start : start + size])
            if chunks > 1:
                time.sleep(0.4)  # separate flushes: more requests, more injected failures


def status_of(env: dict) -> str:
    return json.loads(invoke(env, "integrations", "--json").stdout)[0]["status"]


def database_text(db) -> str:
    """Every row of every table, as text (JSON columns included)."""
    parts = []
    with db() as session:
        for table in Base.metadata.sorted_tables:
            query = text(f"SELECT * FROM {table.name}")  # noqa: S608 - the model's own table names
            parts.extend(str(tuple(row)) for row in session.execute(query))
    return "\n".join(parts)


def task_messages(broker_url: str) -> list[dict]:
    """Every trigger waiting in the Celery queue: body and headers, as Flower would read them."""
    found = []
    with Connection(broker_url) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(TASK_QUEUE, no_ack=False)) is not None:
            body = message.body
            found.append({"headers": message.headers, "raw": body if isinstance(body, bytes) else body.encode()})
        channel.close()  # unacked: they go back to the queue
    return found


@pytest.mark.timeout(600)
def test_the_api_key_is_nowhere_in_plain_text_after_a_run_with_failures(
    db, sandbox, service_env, processes, figures, monkeypatch
):
    key, wrong = make_key("reliability-secret"), make_key("reliability-wrong")
    sandbox.add_key(key)
    env = {**service_env, "SIGNAL_ADMIN_TOKEN": ADMIN_TOKEN}
    processes.env = env
    outputs: list[str] = []

    def run(*args: str) -> str:
        done = cli(env, *args)
        outputs.append(done.stdout + done.stderr)
        return done.stdout

    integration_id = run("install", "--api-key", key, "--default-list-id", sandbox.list_id).strip()
    assert integration_id.isdigit(), outputs[-1]
    processes.ingest()
    worker = processes.worker()

    sandbox.set_faults(error_rate=0.3, error_status=503, reset_rate=0.05, seed=23)
    publish(env, [identify(f"secret-{i}@example.com", f"s{i}", first_name=f"S{i}") for i in range(200)], chunks=20)
    time.sleep(2)
    sandbox.revoke(key)
    publish(env, [identify(f"revoked-{i}@example.com", f"r{i}") for i in range(100)])
    wait_for(lambda: status_of(env) == "auth_failed", timeout=90, what="auth_failed")
    run("integrations")
    run("integrations", "--json")
    run("install", "--api-key", key)  # fails: the key is revoked
    run("integrations", "update-key", integration_id, "--api-key", wrong)  # fails: unknown key
    sandbox.restore(key)
    sandbox.clear_faults()
    for _ in range(5):
        if cli(env, "integrations", "update-key", integration_id, "--api-key", key).returncode == 0:
            break
        time.sleep(1)
    wait_for(
        lambda: run("stats", "--json") and json.loads(outputs[-1])["deliveries"].get("succeeded") == 300,
        timeout=120,
        interval=1,
        what="every delivery succeeded",
    )
    commands = [
        ("integrations",),
        ("integrations", "--json"),
        ("deliveries", "--json", "--limit", "1000"),
        ("deliveries", "--status", "failed"),
        ("stats",),
        ("stats", "--json"),
        ("replay", "--dry-run"),
    ]
    for args in commands:
        run(*args)

    # Triggers as they wait in the queue (the worker stopped, so they stay there to be read).
    worker.terminate()
    worker.wait(30)
    publish(env, [identify("queued@example.com", "q1", first_name="Queued")])
    wait_for(lambda: count_events(db) == 301, timeout=30, what="the last event stored")
    run("integrations", "update", integration_id, "--resume")  # a flush trigger
    messages = task_messages(env["BROKER_URL"])

    api_checks = admin_api(env, monkeypatch, key)
    with db() as session:
        stored = session.get(Integration, int(integration_id))
        attempts_errors = "\n".join(session.scalars(text("SELECT coalesce(error, '') FROM delivery_attempts")).all())
        failed_attempts = session.scalar(text("SELECT count(*) FROM delivery_attempts WHERE error IS NOT NULL"))
    haystacks = {
        "logs": all_logs(processes),
        "database": database_text(db),
        "attempt_errors": attempts_errors,
        "task_messages": "\n".join(repr(m) for m in messages),
        "cli_output": "\n".join(outputs),
        "admin_api": api_checks.get("bodies", ""),
    }
    figures.update(
        searched_bytes={name: len(hay) for name, hay in haystacks.items()},
        failed_attempts_recorded=failed_attempts,
        task_messages_read=len(messages),
        cli_commands=len(outputs),
        admin_api=api_checks.get("summary"),
        key_found_in=[name for name, hay in haystacks.items() if key in hay or wrong in hay],
    )
    assert failed_attempts > 0, "the run had failures"
    assert figures["key_found_in"] == []
    # Encrypted at rest with SIGNAL_SECRET_KEY (Fernet), and shown masked.
    assert stored.api_key_encrypted.startswith("gAAAAA")
    assert decrypt_key(stored.api_key_encrypted, env["SIGNAL_SECRET_KEY"]) == key
    assert stored.api_key_hint == mask_key(key)
    # Triggers carry ids only (and ingest's `fresh` flag): Flower shows nothing personal.
    assert {m["headers"]["task"] for m in messages} <= TASKS and messages
    for message in messages:
        args, kwargs, _ = json.loads(message["raw"])
        assert set(kwargs) <= {"fresh"} and all(isinstance(v, bool) for v in kwargs.values()), message
        assert all(isinstance(a, int) or (isinstance(a, list) and all(isinstance(i, int) for i in a))
                   for a in args), message  # fmt: skip
        assert "@" not in message["raw"].decode() + str(message["headers"].get("argsrepr"))


def count_events(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Event))


def admin_api(env: dict, monkeypatch, key: str) -> dict:
    """The admin API (workers/api.py, being built in parallel): refuses missing or wrong tokens, never shows the key."""
    if importlib.util.find_spec("workers.web") is None:
        pytest.skip("workers/api.py does not exist yet: the admin API part of this test cannot run")
    from config.settings import load_settings
    from workers.web import create_app

    client = create_app(load_settings(env)).test_client()
    refused = {}
    for name, headers in {
        "missing": {},
        "wrong": {"Authorization": "Bearer not-the-token"},
        "not_bearer": {"Authorization": ADMIN_TOKEN},
        "empty": {"Authorization": "Bearer "},
    }.items():
        refused[name] = client.get("/v1/admin/integrations", headers=headers).status_code
    good = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    bodies = []
    for path in ("/v1/admin/integrations", "/v1/admin/deliveries?limit=500", "/v1/admin/stats"):
        answer = client.get(path, headers=good)
        assert answer.status_code == 200, (path, answer.status_code, answer.get_data(as_text=True)[:300])
        bodies.append(answer.get_data(as_text=True))
    assert set(refused.values()) == {401}, refused
    return {"summary": {"refused": refused, "authorized_reads": len(bodies)}, "bodies": "\n".join(bodies)}
