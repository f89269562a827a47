"""The embedded default: with no DATABASE_URL every process of one SIGNAL_HOME shares one PostgreSQL server,
migrated when it starts and stopped when the last of them exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest
from alembic.script import ScriptDirectory

from models.migrate import alembic_config
from tests.fixtures.processes import ROOT, cli

# The first process: starts the server through the product's own settings, stores one event, says where the
# server listens, then keeps running until its stdin closes.
FIRST = """
import sys
from models.db import database_url, session_scope
from workers.ingest.inbox import Incoming, store_events

url = database_url()
with session_scope() as session:
    store_events(session, [Incoming(b'{"messageId": "embedded-1", "type": "page"}')])
print(url, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def home_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BROKER_", "SENDGRID_", "SIGNAL_"))}
    env["SIGNAL_HOME"] = str(tmp_path / "home")
    return env


def start_first(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", FIRST], env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    url = proc.stdout.readline().strip()
    assert url, f"the first process did not start the server (exit {proc.wait(30)})"
    return proc, url


def server_pid(pgdata: Path) -> int | None:
    """The postmaster's pid while it runs, else None."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    return pid if psutil.pid_exists(pid) else None


def received(env: dict[str, str]) -> int:
    done = cli(env, "stats", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["events"]["received"]


def test_processes_of_one_home_share_a_migrated_server(home_env):
    pgdata = Path(home_env["SIGNAL_HOME"]) / "pgdata"
    first, url = start_first(home_env)
    try:
        started = server_pid(pgdata)
        assert started is not None
        with psycopg.connect(url.replace("+psycopg", "")) as conn:
            (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        assert version == ScriptDirectory.from_config(alembic_config(url)).get_current_head()

        # A second process, while the first runs: the same server, the same data.
        assert received(home_env) == 1
        assert server_pid(pgdata) == started  # it joined the server and left it running for the first
    finally:
        first.communicate(timeout=30)  # closes its stdin: it exits
    assert server_pid(pgdata) is None  # the last process out stopped it


def test_a_killed_process_does_not_keep_the_server_running(home_env):
    pgdata = Path(home_env["SIGNAL_HOME"]) / "pgdata"
    first, _url = start_first(home_env)
    first.send_signal(signal.SIGKILL)  # no atexit: it stays on the server's list of users
    first.communicate(timeout=30)
    assert server_pid(pgdata) is not None

    assert received(home_env) == 1  # the next process finds the data, and is the last user when it exits
    assert server_pid(pgdata) is None
