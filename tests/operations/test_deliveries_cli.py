"""`signal-sendgrid deliveries` is the console's timeline: the same rows as GET /v1/admin/deliveries, rejected
events with their reasons among them, its filters, and a cursor that pages on without a duplicate or a gap."""

from __future__ import annotations

import json
import re

import pytest

from tests.factories import identify
from tests.fixtures.processes import cli
from tests.helpers.cli import invoke
from workers.ingest.inbox import Incoming, store_events
from workers.processing.process import process_events

pytestmark = pytest.mark.integration
CURSOR = re.compile(r"older rows: --cursor (\S+)")


@pytest.fixture
def stream(db, integration) -> None:
    """Three identify events (three queued deliveries) and a body that is not JSON (rejected when stored)."""
    bodies = [json.dumps(identify(f"cli{n}@example.com", f"u{n}", n)).encode() for n in range(3)] + [b"{not json"]
    with db.begin() as session:
        ids = store_events(session, [Incoming(body) for body in bodies])
    process_events(db, ids)


def deliveries(service_env, *args: str) -> tuple[list[dict], str | None]:
    done = invoke(service_env, "deliveries", "--json", *args)
    assert done.returncode == 0, done.stderr
    found = CURSOR.search(done.stderr)
    return json.loads(done.stdout), found.group(1) if found else None


def test_the_cli_pages_the_timeline_by_cursor_with_rejected_events(service_env, api, stream):
    rows, cursor = deliveries(service_env, "--limit", "3")
    rest, last = deliveries(service_env, "--limit", "3", "--cursor", cursor)
    assert last is None and len(rows) == 3 and len(rest) == 1
    listed = rows + rest
    assert [(r["source"], r["id"]) for r in listed] == [
        (r["source"], r["id"]) for r in api.get("/v1/admin/deliveries").json()["items"]
    ]  # the API's rows, in the same order
    assert [r["email"] for r in listed[:3]] == ["cli2@example.com", "cli1@example.com", "cli0@example.com"]
    assert listed[3]["status"] == "rejected" and listed[3]["error"].startswith("body is not JSON")  # at ingest

    found, _ = deliveries(service_env, "--search", "CLI1@", "--status", "queued")
    assert [(r["email"], r["status"]) for r in found] == [("cli1@example.com", "queued")]
    table = invoke(service_env, "deliveries", "--status", "rejected")
    assert table.returncode == 0 and "rejected" in table.stdout and "body is not JSON" in table.stdout
    assert "--cursor" not in table.stdout  # one page holds them all


def test_a_cursor_it_did_not_give_out_is_one_clear_line(service_env):
    done = cli(service_env, "deliveries", "--cursor", "yesterday")
    assert done.returncode == 2 and "--cursor" in done.stderr and "Traceback" not in done.stderr
