"""The admin API's test constants (token, operations, the install body) and a client sending the bearer token."""

from __future__ import annotations

import json
from typing import Any

import requests
from kombu import Connection

from tests.fixtures.services import TEST_SECRET
from workers.ingest.wire import events_queue

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
