"""Rejected events listed with their reasons (`signal-sendgrid events`, GET /v1/admin/events), and an event
without a messageId refused the same way by `publish` and POST /v1/events."""

from __future__ import annotations

import json

import pytest

from tests.factories import event, identify
from tests.fixtures.processes import cli
from tests.helpers.cli import invoke
from workers.ingest.inbox import Incoming, store_events
from workers.processing.process import process_events

pytestmark = pytest.mark.integration
MISSING = "messageId: Missing data for required field."


def stored(db, *bodies: bytes) -> list[int]:
    with db.begin() as session:
        ids = store_events(session, [Incoming(body) for body in bodies])
    process_events(db, ids)
    return ids


@pytest.fixture
def rejected(db) -> list[int]:
    """Two rejected events among valid ones: an unknown type and a body that is not JSON; their ids in order."""
    return sorted(
        stored(
            db,
            json.dumps(identify("ok@example.com", "u1")).encode(),
            json.dumps(event("purchase", messageId="bad-type")).encode(),
            b"{not json",
            json.dumps(event("page", 1, userId="u1", properties={"url": "https://shop.example/"})).encode(),
        )
    )


def test_the_cli_lists_rejected_events_with_their_reasons(service_env, rejected):
    listed = invoke(service_env, "events", "--status", "rejected", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert rows[0]["id"] > rows[1]["id"]  # newest first
    assert rows[1]["message_id"] == "bad-type" and "'purchase' is not one of" in rows[1]["reason"]
    assert rows[0]["message_id"].startswith("sha256:") and "body is not JSON" in rows[0]["reason"]
    assert rows[0]["body"] == "{not json" and all(row["status"] == "rejected" for row in rows)

    table = invoke(service_env, "events", "--limit", "1")  # rejected is the default
    assert table.returncode == 0 and len(table.stdout.strip().splitlines()) == 2, table.stdout
    assert "body is not JSON" in table.stdout


def test_the_api_lists_them_too_and_pages(api, rejected):
    answer = api.get("/v1/admin/events", params={"status": "rejected", "limit": 1})
    assert answer.status_code == 200, answer.text
    (first,) = answer.json()
    assert first["message_id"].startswith("sha256:") and "body is not JSON" in first["reason"]
    rest = api.get("/v1/admin/events", params={"before_id": first["id"]}).json()
    assert [row["message_id"] for row in rest] == ["bad-type"]
    processed = api.get("/v1/admin/events", params={"status": "processed"}).json()
    assert [row["type"] for row in processed] == ["page", "identify"] and processed[0]["reason"] is None
    assert api.get("/v1/admin/events", params={"status": "nonsense"}).status_code == 400


def test_publish_and_the_api_refuse_an_event_without_message_id_in_the_same_words(service_env, api, tmp_path):
    lines = tmp_path / "events.ndjson"
    without_id = {k: v for k, v in identify("a@example.com", "u1").items() if k != "messageId"}
    lines.write_text(json.dumps(identify("b@example.com", "u2")) + "\n" + json.dumps(without_id) + "\n")
    published = cli(service_env, "publish", str(lines))
    assert published.returncode == 1
    assert published.stderr.strip() == f"line 2: {MISSING}; not published"
    assert "1 events published and confirmed, 1 lines rejected" in published.stdout

    answer = api.post("/v1/events", json=without_id)
    assert answer.status_code == 400
    assert answer.json()["errors"] == {"json": {"messageId": ["Missing data for required field."]}}


def test_the_events_command_loads_no_web_module(service_env, rejected):
    """`signal-sendgrid events` reads through workers.services.events: no route module of the API or the console
    is loaded (it ran one query through admin/inbox_view.py)."""
    listed = cli({**service_env, "PYTHONPROFILEIMPORTTIME": "1"}, "events", "--limit", "1")
    assert listed.returncode == 0, listed.stderr[-2000:]
    lines = [line for line in listed.stderr.splitlines() if line.startswith("import time:")]
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines}
    assert "workers.services.events" in imported
    web = ("workers.admin", "workers.console", "workers.web")
    assert sorted(m for m in imported if m.startswith(web)) == []
