"""The admin API's erasure routes and the `forget`, `erasures` and `stats` commands."""

from __future__ import annotations

import json
import time

import pytest

from config.settings import load_settings
from tests.factories import identify
from tests.fixtures.processes import cli
from tests.fixtures.services import TEST_SECRET
from tests.helpers.privacy import deliver, store
from workers.web import create_app

pytestmark = pytest.mark.integration

TOKEN = "privacy-admin-token-0123456789-abcdefghij"
EMAIL = "api.erin@example.com"


@pytest.fixture
def client(committed_db, db, sandbox, integration, monkeypatch):
    """The web app's test client. Without a broker the API runs an erasure on a thread of its own, with
    connections of its own: the database is the committed one (so `db` is too)."""
    monkeypatch.setenv("SIGNAL_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("SIGNAL_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("SENDGRID_API_URL", sandbox.url)
    app = create_app(load_settings(), sessions=db)
    return app.test_client()


def auth() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_the_api_erases_and_reports_the_erasure(db, sandbox, client, hashing_settings):
    deliver(db, sandbox, store(db, identify(EMAIL, "api-erin", 1, first_name="Erin")))
    answer = client.post("/v1/admin/privacy/erasures", json={"email": EMAIL}, headers=auth())
    assert answer.status_code == 202, answer.json
    erasure_id = answer.json["id"]
    assert answer.json["subject"] == "email" and EMAIL not in json.dumps(answer.json)
    deadline = time.monotonic() + 30
    while (shown := client.get(f"/v1/admin/privacy/erasures/{erasure_id}", headers=auth()).json)["status"] not in (
        "completed",
        "failed",
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert shown["status"] == "completed", shown
    assert shown["removed"]["contacts"] == 1
    assert shown["sendgrid"][0]["outcome"] == "deleted" and shown["sendgrid"][0]["job_ids"]
    assert sandbox.contact(EMAIL) is None


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"email": EMAIL, "user_id": "u"}, 400), ({"email": "not an email"}, 400), ({"phone": "1"}, 400)],
)
def test_the_api_refuses_a_request_that_names_nobody_clearly(client, body, status):
    answer = client.post("/v1/admin/privacy/erasures", json=body, headers=auth())
    assert answer.status_code == status and answer.json["message"]


def test_the_api_answers_404_for_an_unknown_erasure_and_401_without_the_token(client):
    assert client.get("/v1/admin/privacy/erasures/999", headers=auth()).status_code == 404
    assert client.post("/v1/admin/privacy/erasures", json={"email": EMAIL}).status_code == 401


def test_the_commands(db, sandbox, integration, service_env):
    deliver(db, sandbox, store(db, identify(EMAIL, "cli-erin", 1, first_name="Erin")))
    assert sandbox.contact(EMAIL) is not None

    refused = cli(service_env, "forget")
    assert refused.returncode == 2 and "exactly one of email or user_id" in refused.stderr
    forgot = cli(service_env, "forget", "--user-id", "cli-erin")
    assert forgot.returncode == 0, forgot.stderr
    assert "completed" in forgot.stdout and "contacts 1" in forgot.stdout and "1 deleted" in forgot.stdout
    assert sandbox.contact(EMAIL) is None
    shown = json.loads(cli(service_env, "erasures", "1", "--json").stdout)
    assert shown["status"] == "completed" and shown["subject"] == "user_id"
    stats = cli(service_env, "stats")
    assert "storage: " in stats.stdout and "events " in stats.stdout.split("storage: ")[1]
