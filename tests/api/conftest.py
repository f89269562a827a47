"""The admin API served over real HTTP (werkzeug's threaded server on a free port) on PostgreSQL, RabbitMQ and
the SendGrid sandbox, and a small client that sends the bearer token."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from kombu import Connection
from sqlalchemy import select, update
from werkzeug.serving import make_server

from config.settings import Settings, load_settings
from models import Delivery, DeliveryStatus, Event
from tests.factories import event, identify
from tests.fixtures.services import TEST_SECRET
from workers.ingest.inbox import Incoming, store_events
from workers.ingest.wire import events_queue
from workers.processing.process import process_events
from workers.web import create_app

TOKEN = "test-admin-token-0123456789-abcdefghij"  # SIGNAL_ADMIN_TOKEN: at least 32 characters
# Every operation of the admin API (all of them require the bearer token).
OPERATIONS = {
    ("POST", "/v1/admin/integration-catalog/sendgrid/install"),
    ("GET", "/v1/admin/integrations"),
    ("GET", "/v1/admin/deliveries"),
    ("POST", "/v1/admin/deliveries/replay"),
    ("GET", "/v1/admin/stats"),
    ("POST", "/v1/events"),
    ("PATCH", "/v1/admin/integrations/{integration_id}"),
    ("DELETE", "/v1/admin/integrations/{integration_id}"),
    ("POST", "/v1/admin/integrations/{integration_id}/disable"),
    ("POST", "/v1/admin/integrations/{integration_id}/enable"),
    ("POST", "/v1/admin/integrations/{integration_id}/key"),
    ("POST", "/v1/admin/privacy/erasures"),
    ("GET", "/v1/admin/privacy/erasures/{erasure_id}"),
    ("GET", "/v1/admin/events"),
}
INSTALL = "/v1/admin/integration-catalog/sendgrid/install"

# The body of the "API Setup" curl on the product page, byte for byte (its placeholders are substituted).
SEED_CURL_BODY = """{
"name": "SendGrid",
"variant": "default",
"config": {
"api_key": "SG.xxxxxxxxxxxxxxxxxxxx",
"default_list_id": "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
},
"delivery_mode": "server_side"
}"""


def seed_body(key: str, list_id: str) -> str:
    return SEED_CURL_BODY.replace("SG.xxxxxxxxxxxxxxxxxxxx", key).replace(
        "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", list_id
    )


class ApiClient:
    """HTTP to a served app; `token=None` sends no Authorization header."""

    def __init__(self, url: str, app) -> None:  # noqa: ANN001 - a Flask app
        self.url = url
        self.app = app

    def request(self, method: str, path: str, token: str | None = TOKEN, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers = {"Authorization": f"Bearer {token}", **headers}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)


def api_env(pg_url: str, sandbox_url: str, broker_url: str, **overrides: str) -> dict[str, str]:
    return {
        "DATABASE_URL": pg_url,
        "SENDGRID_API_URL": sandbox_url,
        "SIGNAL_SECRET_KEY": TEST_SECRET,
        "SIGNAL_ADMIN_TOKEN": TOKEN,
        "BROKER_URL": broker_url,
        **overrides,
    }


@pytest.fixture
def api_settings(pg_url, sandbox, clean_broker) -> Settings:
    return load_settings(api_env(pg_url, sandbox.url, clean_broker))


@pytest.fixture
def serve(committed_db) -> Iterator[Callable[[Settings], ApiClient]]:
    """Serve create_app(settings) on a free port; every server stops after the test. Its request threads have
    connections of their own, so the test's `db` is `committed_db`."""
    running = []

    def start(settings: Settings) -> ApiClient:
        app = create_app(settings, sessions=committed_db)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread, app))
        return ApiClient(f"http://127.0.0.1:{server.server_port}", app)

    yield start
    for server, thread, app in running:
        server.shutdown()
        server.server_close()
        thread.join(5)
        app.extensions["signal_sendgrid"].publisher.close()


@pytest.fixture
def api(serve, api_settings) -> ApiClient:
    return serve(api_settings)


def queued_messages(broker_url: str) -> list:
    """Take every message in signal.sendgrid.events (acknowledged: the queue is left empty)."""
    messages = []
    with Connection(broker_url) as conn:
        queue = events_queue(conn.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            messages.append(message)
    return messages


def install_two(api, sandbox) -> tuple[int, int]:
    ids = []
    for name in ("SendGrid", "SendGrid EU team"):
        body = json.loads(seed_body(sandbox.key, sandbox.list_id)) | {"name": name, "force": True}
        answer = api.post(INSTALL, json=body)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids[0], ids[1]


@pytest.fixture
def work(api, db, sandbox) -> dict:
    """Two integrations, five events (3 identify, 2 page) -> ten deliveries; the identify ones of the first
    integration marked failed."""
    first, second = install_two(api, sandbox)
    events = [identify(f"p{n}@example.com", f"u{n}", n) for n in range(3)]
    events += [event("page", 5, userId="u0", properties={"url": "https://shop.example/a"})]
    events += [event("page", 6, userId="u1", properties={"url": "https://shop.example/b"})]
    with db.begin() as session:
        ids = store_events(session, [Incoming(json.dumps(e).encode()) for e in events])
    process_events(db, ids)
    with db.begin() as session:
        identify_ids = select(Event.id).where(Event.type == "identify")
        session.execute(
            update(Delivery)
            .where(Delivery.integration_id == first, Delivery.event_id.in_(identify_ids))
            .values(status=DeliveryStatus.FAILED, reason="SendGrid said no")
        )
    return {"first": first, "second": second, "events": events}
