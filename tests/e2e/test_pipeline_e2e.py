"""End to end: publish to real RabbitMQ, the real ingest consumer and a Celery worker, PostgreSQL, the sandbox."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from models import Delivery, DeliveryStatus, Event
from tests.factories import identify
from tests.fixtures.processes import cli, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def installed(service_env, sandbox) -> str:
    done = cli(service_env, "install", "--api-key", sandbox.key, "--default-list-id", sandbox.list_id)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def count(db, *where) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Delivery).where(*where))


def test_identify_events_flow_from_rabbitmq_to_sendgrid_contacts(db, sandbox, service_env, processes):
    integration_id = installed(service_env, sandbox)
    assert integration_id.isdigit()
    events = [
        identify(f"E2E{i}@Example.com", f"user-{i}", first_name=f"First{i}", phone="+15550100") for i in range(60)
    ]
    lines = "\n".join(json.dumps(e) for e in events) + "\n" + json.dumps(events[0]) + "\n"
    published = cli(service_env, "publish", "-", input=lines)
    assert published.returncode == 0, published.stderr
    assert "61 events published and confirmed" in published.stdout

    processes.ingest()
    processes.worker()
    wait_for(lambda: count(db, Delivery.status == DeliveryStatus.SUCCEEDED) == 60, timeout=90, what="60 succeeded")

    contacts = {c["email"]: c for c in sandbox.contacts()}
    assert len(contacts) == 60
    one = contacts["e2e7@example.com"]
    assert one["first_name"] == "First7"
    assert one["phone_number"] == "+15550100"
    assert one["custom_fields"]["signal_user_id"] == "user-7"
    assert one["list_ids"] == [sandbox.list_id]
    puts = [r for r in sandbox.requests_log() if r["method"] == "PUT"]
    assert 1 <= len(puts) < 60, f"{len(puts)} PUT requests for 60 events: not batched"
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 60  # the duplicate was stored once
        rows = session.execute(select(Delivery.event_id, func.count()).group_by(Delivery.event_id)).all()
        assert len(rows) == 60 and all(n == 1 for _, n in rows)

    shown = cli(service_env, "deliveries", "--json", "--limit", "100")
    listed = json.loads(shown.stdout)
    assert len(listed) == 60 and {r["status"] for r in listed} == {"succeeded"}
    assert all(r["status_code"] == 202 and r["attempts"] == 1 for r in listed)
    stats = json.loads(cli(service_env, "stats", "--json").stdout)
    assert stats["events"]["processed"] == 60 and stats["deliveries"]["succeeded"] == 60
    assert sandbox.key not in processes.logs_text()


def test_publish_reports_lines_that_are_not_json(service_env, sandbox):
    lines = json.dumps(identify("a@example.com", "a")) + "\n{oops\n" + json.dumps([1]) + "\n"
    done = cli(service_env, "publish", "-", input=lines)
    assert done.returncode == 1
    assert "line 2: not JSON" in done.stderr
    assert "line 3: a JSON list" in done.stderr
    assert "1 events published and confirmed, 2 lines rejected" in done.stdout


def test_an_unreachable_database_is_one_clear_line(service_env):
    env = {**service_env, "DATABASE_URL": "postgresql://signal:s3cret-pass@127.0.0.1:1/signal"}
    done = cli(env, "stats")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "DATABASE_URL is unreachable" in done.stderr and "s3cret-pass" not in done.stderr
    assert "Traceback" not in done.stderr


def test_install_with_a_bad_key_explains_what_to_do(service_env, sandbox):
    sandbox.revoke(sandbox.key)
    done = cli(service_env, "install", "--api-key", sandbox.key)
    assert done.returncode == 1
    assert "401" in done.stderr and "Marketing read/write permissions" in done.stderr
    assert sandbox.key not in done.stderr + done.stdout
