"""Failures say what and where, once: the real commands run as subprocesses with wrong URLs, each ending with
exit code 2 (1 for install) and ONE line on stderr naming the setting, the password hidden, no traceback; the
long-running ones (ingest, the Celery worker with beat) log one line and keep retrying, and a worker whose
database is unusable stops at boot. The commands run side by side (a thread each) to keep this file short."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from tests.fixtures.processes import BIN, ROOT
from tests.fixtures.services import TEST_SECRET
from workers.failures import Throttle, ThrottleFilter, reason

pytestmark = pytest.mark.integration

CLOSED_BROKER = "amqp://guest:guest@127.0.0.1:5673/"
CLOSED_DATABASE = "postgresql://signal:s3cret-pw@127.0.0.1:1/signal"  # nothing listens on port 1
FILE = str(ROOT / "tests" / "operations" / "test_failures.py")  # any file: publish fails before reading it


def base_env(tmp_path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BROKER_", "SENDGRID_", "SIGNAL_"))}
    # PYTHONWARNINGS: Celery warns about running as root in containers; that is not the product's output.
    env.update(SIGNAL_SECRET_KEY=TEST_SECRET, SIGNAL_HOME=str(tmp_path / "home"), PYTHONWARNINGS="ignore", **values)
    return env


def run(env: dict[str, str], *args: str, until: str | None = None, then: float = 0) -> tuple[int | None, str]:
    """Run a command to its end; or, with `until`, until stderr shows that text and `then` seconds more (a
    process that retries), then SIGTERM. Returns (exit code, or None when it was still running; stderr)."""
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if until is None:
        _, err = proc.communicate(timeout=90)
        return proc.returncode, err
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 90
    while not any(until in line for line in lines) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(then)
    code = proc.poll()
    if code is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    reader.join(5)
    proc.stderr.close()
    return code, "".join(lines)


@pytest.fixture(scope="module")
def answers(tmp_path_factory, broker_url, pg_url) -> dict[str, tuple[int | None, str]]:
    """Every case, run at once; case name -> (exit code, stderr)."""
    tmp = tmp_path_factory.mktemp("failures")
    parts = urlsplit(broker_url)
    bad_password = parts._replace(netloc=f"guest:not-the-password@{parts.hostname}:{parts.port or 5672}").geturl()
    wrong_db = base_env(tmp, DATABASE_URL=CLOSED_DATABASE, BROKER_URL=broker_url)
    unmigrated = base_env(tmp, DATABASE_URL=pg_url.rsplit("/", 1)[0] + "/postgres", BROKER_URL=broker_url)
    cli = str(BIN / "signal-sendgrid")
    worker = [str(BIN / "celery"), "-A", "workers", "worker", "-B", "-c", "1", "-l", "INFO"]
    worker += ["-s", str(tmp / "beat-schedule"), "-n", f"failures-{os.getpid()}@%h"]
    cases = {
        "publish, broker port closed": (base_env(tmp, BROKER_URL=CLOSED_BROKER), [cli, "publish", FILE], {}),
        "publish, wrong password": (base_env(tmp, BROKER_URL=bad_password), [cli, "publish", FILE], {}),
        "install, SendGrid unreachable": (
            base_env(tmp, DATABASE_URL=pg_url, SENDGRID_API_URL="http://127.0.0.1:9"),
            [cli, "install", "--api-key", "SG.abcdefghijklmnop.qrstuvwxyz0123456789"],
            {},
        ),
        "integrations, schema not migrated": (unmigrated, [cli, "integrations"], {}),
        # Ingest retries after 1, 2, 4 s: 8 s more would show three more lines if it repeated itself.
        "ingest, broker unreachable": (
            base_env(tmp, DATABASE_URL=pg_url, BROKER_URL=CLOSED_BROKER),
            [cli, "-v", "ingest"],
            {"until": "BROKER_URL", "then": 8},
        ),
        "worker, database unusable": (wrong_db, worker, {}),
        "worker, wrong broker password": (base_env(tmp, DATABASE_URL=pg_url, BROKER_URL=bad_password), worker, {}),
        # Celery retries after 2, 4, 6 s: two more of its own lines in 8 s.
        "worker, broker unreachable": (
            base_env(tmp, DATABASE_URL=pg_url, BROKER_URL=CLOSED_BROKER),
            worker,
            {"until": "Cannot connect", "then": 8},
        ),
    }
    for command in (["db", "upgrade"], ["install", "--api-key", "SG.x"], ["integrations"], ["deliveries"], ["stats"]):
        cases[f"{command[0]}, database unreachable"] = (wrong_db, [cli, *command], {})
    cases["replay, database unreachable"] = (wrong_db, [cli, "replay", "--status", "failed"], {})
    with ThreadPoolExecutor(len(cases)) as pool:
        futures = {name: pool.submit(run, env, *args, **options) for name, (env, args, options) in cases.items()}
        return {name: future.result() for name, future in futures.items()}


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("name", ["publish, broker port closed", "publish, wrong password"])
def test_publish_without_the_broker_is_one_line_naming_broker_url(answers, name):
    code, err = answers[name]
    line = one_line(err)
    assert code == 2 and line.startswith("error: BROKER_URL "), line
    assert "not-the-password" not in line and "guest:***@" in line
    assert ("Connection refused" in line) if "closed" in name else ("ACCESS_REFUSED" in line)


@pytest.mark.parametrize("command", ["db", "install", "integrations", "deliveries", "stats", "replay"])
def test_a_wrong_database_url_is_one_line_naming_it(answers, command):
    code, err = answers[f"{command}, database unreachable"]
    line = one_line(err)
    assert code == 2 and line.startswith("error: DATABASE_URL is unreachable (") and "Connection refused" in line, line
    assert "s3cret-pw" not in line and "signal:***@127.0.0.1:1/signal" in line


def test_a_database_without_the_schema_says_to_run_db_upgrade(answers):
    code, err = answers["integrations, schema not migrated"]
    line = one_line(err)
    assert code == 2 and "schema is not migrated" in line and "signal-sendgrid db upgrade" in line, line


def test_install_without_sendgrid_names_sendgrid_api_url(answers):
    code, err = answers["install, SendGrid unreachable"]
    assert (code, one_line(err)) == (
        1,
        "install failed: SendGrid at http://127.0.0.1:9 is unreachable (Connection refused): check SENDGRID_API_URL",
    )


def test_ingest_without_the_broker_says_so_once_and_keeps_retrying(answers):
    code, err = answers["ingest, broker unreachable"]
    assert code is None  # still retrying when stopped
    assert one_line(err) == (
        "WARNING BROKER_URL is unreachable (Connection refused): amqp://guest:***@127.0.0.1:5673/; "
        "retrying (backoff up to 30 s)"
    )


def test_a_worker_with_an_unusable_database_stops_at_boot_with_one_line(answers):
    code, err = answers["worker, database unusable"]
    assert code == 2, err
    line = one_line(err)
    assert line.startswith("error: DATABASE_URL is unreachable (") or line.startswith(
        "error: DATABASE_URL is unusable ("
    ), line
    assert "s3cret-pw" not in line


def test_a_worker_refused_by_rabbitmq_stops_at_boot_with_one_line(answers):
    code, err = answers["worker, wrong broker password"]
    line = one_line(err)  # Celery alone: "Unrecoverable error" and a 40-line traceback
    assert code == 2 and line.startswith("error: BROKER_URL is refused by RabbitMQ (ACCESS_REFUSED"), line
    assert "not-the-password" not in line


def test_a_worker_without_the_broker_logs_one_line_per_component(answers):
    code, err = answers["worker, broker unreachable"]
    assert code is None and "Traceback" not in err, err
    consumer = [line for line in err.splitlines() if "consumer: Cannot connect" in line]
    beat = [line for line in err.splitlines() if "beat: Connection error" in line]
    assert len(consumer) == 1 and len(beat) <= 1, err  # Celery alone says it every 2-4 s, in two lines each
    assert "amqp://guest:**@127.0.0.1:5673//" in consumer[0] and "Connection refused" in consumer[0]


def test_throttle_repeats_a_warning_at_most_every_30_seconds(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    throttle = Throttle(logging.getLogger("test.throttle"))
    with caplog.at_level(logging.WARNING, "test.throttle"):
        said = [throttle.warning("broker down")]
        for step in (1, 10, 18.9, 0.2):  # 29.9 s after the first, then 30.1 s
            clock[0] += step
            said.append(throttle.warning("broker down"))
    assert said == [True, False, False, False, True]
    assert [r.getMessage() for r in caplog.records] == ["broker down", "broker down (3 more like it since the last)"]


def celery_retry_line() -> logging.LogRecord:
    message = "consumer: Cannot connect to %s: %s.\n%s\n"
    args = ("amqp://x", "refused", "Trying again in 2.00 seconds... (1/100)")
    return logging.LogRecord("celery", logging.ERROR, __file__, 1, message, args, None)


def test_throttle_filter_lets_one_celery_retry_line_through_per_30_seconds():
    throttle = ThrottleFilter(("consumer: Cannot connect",))
    first = celery_retry_line()
    assert throttle.filter(first) and first.getMessage() == (
        "consumer: Cannot connect to amqp://x: refused. Trying again in 2.00 seconds... (1/100)"
    )
    assert not throttle.filter(celery_retry_line())
    assert throttle.filter(logging.LogRecord("celery", logging.INFO, __file__, 1, "ready", (), None))


ACCESS_REFUSED = (
    "(0, 0): (403) ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
    "For details see the broker logfile."
)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError("[Errno 111] Connection refused"), "Connection refused"),
        (
            Exception('connection failed: ... port 5432 failed: FATAL:  database "x" does not exist'),
            'database "x" does not exist',
        ),
        (Exception(ACCESS_REFUSED), "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN"),
    ],
)
def test_reason_is_the_useful_part(error, expected):
    assert reason(error) == expected


def test_a_task_meeting_a_database_outage_logs_one_line_and_no_traceback(caplog, monkeypatch):
    from sqlalchemy.orm import sessionmaker

    from config.settings import load_settings
    from models.db import make_engine
    from workers import tasks

    engine = make_engine(CLOSED_DATABASE.replace("postgresql://", "postgresql+psycopg://"))
    monkeypatch.setattr(tasks, "_bound", {"sessions": sessionmaker(bind=engine), "settings": load_settings({})})
    monkeypatch.setattr(tasks, "_database_down", Throttle(logging.getLogger("workers.tasks")))
    with caplog.at_level(logging.INFO, "workers.tasks"):
        assert tasks.poll_imports_task() is None
        assert tasks.sweep_task() is None  # a second outage line within 30 s is left out
    assert [(r.levelname, r.exc_info) for r in caplog.records] == [("WARNING", None)]
    line = caplog.records[0].getMessage()
    assert line.startswith("DATABASE_URL is unreachable") or line.startswith("DATABASE_URL is unusable (")
    assert "signal:***@127.0.0.1:1/signal" in line and "signal.poll_imports skipped" in line
    engine.dispose()


def test_the_schema_check_refuses_an_older_schema_and_accepts_a_newer_one():
    from sqlalchemy import text

    from config.settings import ConfigError
    from models.db import make_engine
    from models.migrate import upgrade
    from tests.fixtures.services import fresh_database
    from workers.failures import check_database

    with fresh_database("signal_schema") as url:
        upgrade(url, "5b2e9c41d7a3")  # an older release's schema
        engine = make_engine(url)
        with pytest.raises(ConfigError, match="schema is at revision 5b2e9c41d7a3, this release needs .*db upgrade"):
            check_database(engine)
        with engine.begin() as connection:  # a newer release migrated it (rolling deploy): this one still runs
            connection.execute(text("UPDATE alembic_version SET version_num = 'f0f0f0f0f0f0'"))
        check_database(engine)
        engine.dispose()
