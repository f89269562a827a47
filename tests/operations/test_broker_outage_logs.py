"""A RabbitMQ outage in the middle of a run is one line per 30 s from beat and from the worker, never a traceback
(docs/operations.md, "What failures look like"). Real processes as the Procfile runs them (`celery beat` and a
`celery worker`) reach the test's RabbitMQ vhost through a TCP proxy the test cuts: to them the broker is gone
(connections reset, new ones refused) while the machine's RabbitMQ runs on untouched.

Before workers/beat.py, beat logged a 110-line "Message Error" traceback for every due task it could not send:
14 of them in a 25 s outage."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixtures.processes import BIN, ROOT, wait_for
from tests.fixtures.services import TEST_SECRET
from tests.fixtures.tcp_proxy import TcpProxy
from workers.failures import ThrottleFilter

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 33  # one line at the start, at most one more after 30 s
LOUD = re.compile(r"^\[[^\]]*: (WARNING|ERROR|CRITICAL)/")


@pytest.fixture
def proxied_broker(broker_url):
    parts = urlsplit(broker_url)
    proxy = TcpProxy((parts.hostname, parts.port or 5672)).start()
    yield proxy, parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}").geturl()
    proxy.stop()


@pytest.fixture
def celery_processes(proxied_broker, pg_url, tmp_path):
    _, url = proxied_broker
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BROKER_", "SENDGRID_", "SIGNAL_"))}
    env.update(DATABASE_URL=pg_url, BROKER_URL=url, SIGNAL_SECRET_KEY=TEST_SECRET, SIGNAL_HOME=str(tmp_path / "home"))
    env["PYTHONUNBUFFERED"] = "1"
    celery = [str(BIN / "celery"), "-A", "workers"]
    commands = {
        "beat": [*celery, "beat", "-l", "INFO", "-s", str(tmp_path / "beat-schedule")],
        "worker": [*celery, "worker", "-l", "INFO", "-c", "1", "-n", f"outage-logs-{os.getpid()}@%h"],
    }
    running = {}
    for name, command in commands.items():
        with open(tmp_path / f"{name}.log", "wb") as log:
            running[name] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    logs = {name: tmp_path / f"{name}.log" for name in commands}
    yield logs
    for proc in running.values():
        proc.terminate()
    for proc in running.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    for name, path in logs.items():
        print(f"--- {name}\n{path.read_text(errors='replace')[-5000:]}")  # shown when the test failed


def text(path: Path, start: int = 0) -> str:
    return path.read_bytes()[start:].decode(errors="replace")


def test_a_broker_outage_is_one_line_per_30_seconds_from_beat_and_the_worker(proxied_broker, celery_processes):
    proxy, _ = proxied_broker
    logs = celery_processes
    wait_for(lambda: "ready." in text(logs["worker"]), timeout=60, what="the worker to be ready")
    wait_for(lambda: "beat: Starting" in text(logs["beat"]), timeout=60, what="beat to start")
    time.sleep(3)  # beat has sent poll-imports and sweep at least once

    before = {name: path.stat().st_size for name, path in logs.items()}
    proxy.cut()
    time.sleep(OUTAGE_SECONDS)
    during = {name: text(path, before[name]) for name, path in logs.items()}
    proxy.restore()
    after_restore = {name: path.stat().st_size for name, path in logs.items()}

    for name, said in during.items():
        lines = said.splitlines()
        loud = [line for line in lines if LOUD.match(line)]
        assert "Traceback" not in said and all(line.startswith("[") for line in lines), f"{name}:\n{said}"
        assert 1 <= len(loud) <= 2, f"{name}: {len(loud)} warnings in {OUTAGE_SECONDS} s:\n{said}"
        assert "Connection refused" in said or "Connection to broker lost" in said, said
        assert "guest:guest@" not in said
    assert "beat: BROKER_URL is unreachable (Connection refused): amqp://guest:***@127.0.0.1:" in during["beat"]

    # Back: beat says how many it could not send, the worker consumes again; still no traceback.
    wait_for(lambda: "the broker is back" in text(logs["beat"], after_restore["beat"]), timeout=20, what="beat back")
    wait_for(lambda: "mingle:" in text(logs["worker"], after_restore["worker"]), timeout=30, what="worker back")
    time.sleep(1)
    for name, path in logs.items():
        assert "Traceback" not in text(path, before[name]), f"{name}:\n{text(path, before[name])}"


def record(message: str, *args: object, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("celery.worker.consumer.consumer", logging.WARNING, __file__, 1, message, args, exc_info)


def test_the_consumer_filter_lets_one_line_through_per_30_seconds_for_the_whole_outage(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    throttle = ThrottleFilter(("consumer: Connection to broker lost", "consumer: Cannot connect", "Couldn't ack"))
    lost = record("%s (%r)", "consumer: Connection to broker lost. Trying again...", OSError("closed"))
    assert throttle.filter(lost) and lost.getMessage() == (
        "consumer: Connection to broker lost. Trying again... (OSError('closed'))"
    )
    passed = []
    for step, message in [
        (2, "consumer: Cannot connect to %s"),
        (20, "Couldn't ack %r"),
        (8.5, "consumer: Cannot connect to %s"),
    ]:
        clock[0] += step
        line = record(message, "x", exc_info=(OSError, OSError("x"), None))
        passed.append(throttle.filter(line) and line)
    assert passed[:2] == [False, False]
    assert passed[2].getMessage() == "consumer: Cannot connect to x (2 more like it since the last)"
    assert passed[2].exc_info is None
    assert throttle.filter(record("mingle: all alone"))


def test_beat_reports_other_errors_as_celery_does(tmp_path, caplog):
    from celery.beat import SchedulingError

    from workers.beat import Scheduler, broker_cause
    from workers.celery import app

    try:
        raise SchedulingError("Couldn't apply scheduled task sweep: bad") from ValueError("bad")
    except SchedulingError as e:
        other = e
    assert broker_cause(other) is None
    scheduler = Scheduler(app=app, schedule_filename=str(tmp_path / "schedule"), lazy=True)
    scheduler.apply_async = lambda *a, **k: (_ for _ in ()).throw(other)
    entry = scheduler.Entry(name="sweep", task="signal.sweep", schedule=5.0, app=app)
    with caplog.at_level(logging.INFO, "celery.beat"):
        scheduler.apply_entry(entry)
    (error,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert error.getMessage().startswith("Message Error: Couldn't apply") and error.exc_info


def test_a_trigger_the_broker_cannot_take_is_one_line_per_30_seconds(caplog, monkeypatch):
    """A task that commits while RabbitMQ is away cannot send its after-commit triggers: one warning per 30 s
    (the sweep finds the work), not a traceback per task."""
    from kombu.exceptions import OperationalError
    from sqlalchemy.orm import Session

    from workers import tasks

    monkeypatch.setattr(tasks, "_broker_down", tasks.Throttle(tasks.log))

    def unsent() -> None:
        raise OperationalError("[Errno 111] Connection refused")

    with caplog.at_level(logging.WARNING, tasks.log.name):
        for _ in range(3):
            with Session() as session, session.begin():
                tasks.after_commit(session, unsent)
    (line,) = caplog.records
    assert line.exc_info is None and line.getMessage().startswith(
        "a trigger after commit was not sent, BROKER_URL is unreachable (Connection refused): "
    )
