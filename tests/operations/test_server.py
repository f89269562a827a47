"""`signal-sendgrid api` as operators run it (the real command, waitress, on PostgreSQL and RabbitMQ): half-sent
requests hold connections, not threads, and never the server; no /static; malformed bodies answer 4xx with a
reason, never 500; a failure at start is one line, a database outage 503s (logged once) and passes."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import psycopg
import pytest
import requests

from models.migrate import upgrade
from tests.fixtures.processes import BIN, answers, cli, free_port, wait_for
from tests.fixtures.services import ADMIN_DSN, fresh_database
from tests.helpers.api import TOKEN

pytestmark = pytest.mark.integration

THREADS = 4
BIG = "9" * 5000  # beyond Python's 4300-digit limit for int(str)


@pytest.fixture
def server(processes, service_env) -> Iterator[tuple[str, int]]:
    """The API on a free port with THREADS threads and a 3 s channel timeout; its URL and pid. One client may
    hold 300 connections here (50 by default: the cap and the read deadline are tests/operations/
    test_slow_clients.py's)."""
    port = free_port()
    processes.env = {**service_env, "SIGNAL_ADMIN_TOKEN": TOKEN, "SIGNAL_API_CONNECTIONS_PER_CLIENT": "300"}
    command = [str(BIN / "signal-sendgrid"), "api", "--port", str(port), "--threads", str(THREADS)]
    proc = processes.start("api", *command, "--channel-timeout", "3")
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(base + "/openapi.json"), timeout=30, what="the API to answer")
    yield base, proc.pid


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def closed(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_two_hundred_half_sent_requests_hold_neither_the_server_nor_its_threads(server):
    base, pid = server
    port = int(base.rsplit(":", 1)[1])
    threads_before = threads_of(pid)
    held = []
    try:
        for n in range(200):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nX-Slow-" + str(n).encode())
            held.append(sock)
        time.sleep(0.5)
        started = time.monotonic()
        answer = requests.get(base + "/openapi.json", timeout=5)
        elapsed = time.monotonic() - started
        assert answer.status_code == 200 and elapsed < 2, elapsed
        assert threads_of(pid) <= threads_before + 1  # no thread per connection
        # The channel timeout (3 s idle here, 30 s by default) closes them, or the read deadline (10 s from the
        # connection's opening): the server ends what clients leave open.
        wait_for(lambda: all(closed(sock) for sock in held), timeout=10, what="the channel timeout to close them")
    finally:
        for sock in held:
            sock.close()


def test_nothing_is_served_from_the_working_directory(server):
    base, _ = server
    for path in ("/static/", "/static/README.md", "/static/pyproject.toml", "/static/../README.md"):
        assert requests.get(base + path, timeout=5).status_code == 404, path
    assert requests.get(base + "/console/static/console/console.css", timeout=5).status_code == 200


MALFORMED = [
    ("POST", "/v1/events", '{"messageId":"m1","type":"identify","traits":{"n":' + BIG + "}}"),
    ("POST", "/v1/admin/deliveries/replay", '{"delivery_ids":[' + BIG + "]}"),
    ("POST", "/v1/admin/integration-catalog/sendgrid/install", '{"name":"x","config":{"api_key":' + BIG + "}}"),
    ("PATCH", "/v1/admin/integrations/99999999999999999999", "{}"),
    ("POST", "/v1/admin/integrations/99999999999999999999/disable", None),
    ("DELETE", "/v1/admin/integrations/99999999999999999999", None),
    ("GET", f"/v1/admin/deliveries?integration_id={BIG}", None),
    ("POST", "/v1/events", b"\xff\xfe\x00{"),
    ("POST", "/v1/events", "[" * 50_000),
    ("POST", "/v1/events", "1e999999"),
    ("POST", "/v1/admin/deliveries/replay", '{"delivery_ids": "all"}'),
]


def test_malformed_requests_answer_4xx_with_a_reason_and_a_body_beyond_the_limit_413(server):
    base, _ = server
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    body = b'{"batch": [' + b'{"messageId": "x"},' * 200_000 + b"{}]}"
    assert requests.post(base + "/v1/events", data=body, headers=headers, timeout=30).status_code == 413
    wrong = []
    for method, path, body in MALFORMED:
        answer = requests.request(method, base + path, data=body, headers=headers, timeout=10)
        if not (400 <= answer.status_code < 500 and answer.json().get("message")):
            wrong.append((method, path[:60], answer.status_code, answer.text[:200]))
    assert wrong == []


def one_line(done) -> str:
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], done.stdout + done.stderr
    return lines[0]


def test_the_command_fails_at_start_in_one_line_naming_the_setting(service_env):
    env = {**service_env, "SIGNAL_ADMIN_TOKEN": TOKEN}
    down = cli({**env, "DATABASE_URL": "postgresql://signal:hunter2@127.0.0.1:1/signal"}, "api", "--port", "1")
    assert down.returncode == 2 and one_line(down).startswith("error: DATABASE_URL is unreachable (")
    assert "hunter2" not in down.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli(env, "api", "--port", str(port), timeout=30)
    assert busy.returncode == 2
    assert busy.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port} (")
    assert "Traceback" not in busy.stderr


def test_a_database_outage_answers_503_is_logged_once_and_passes(processes, service_env):
    with fresh_database("signal_api_outage") as url:
        upgrade(url)
        port = free_port()
        processes.env = {**service_env, "SIGNAL_ADMIN_TOKEN": TOKEN, "DATABASE_URL": url}
        api = processes.start("api", str(BIN / "signal-sendgrid"), "api", "--port", str(port))
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {TOKEN}"}
        wait_for(lambda: answers(base + "/openapi.json"), timeout=30, what="the API to answer")
        assert requests.get(base + "/v1/admin/stats", headers=auth, timeout=10).status_code == 200

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        for _ in range(5):
            answer = requests.get(base + "/v1/admin/stats", headers=auth, timeout=10)
            assert answer.status_code == 503 and "the database is unavailable" in answer.json()["message"]
        assert requests.get(base + "/metrics", timeout=10).status_code == 503

        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        upgrade(url)
        assert requests.get(base + "/v1/admin/stats", headers=auth, timeout=10).status_code == 200
        logged = api.log_path.read_text()  # type: ignore[attr-defined]
        assert logged.count("DATABASE_URL is unreachable") == 1, logged
        assert "Traceback" not in logged
