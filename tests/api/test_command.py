"""`signal-sendgrid api` as a process: refuses to start without a token, serves the API with one."""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.processes import BIN, answers, cli, free_port, wait_for
from tests.helpers.api import TOKEN, seed_body

pytestmark = pytest.mark.integration


def test_the_command_refuses_to_start_without_a_token(service_env):
    result = cli({**service_env, "SIGNAL_ADMIN_TOKEN": ""}, "api", "--port", "1", timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: SIGNAL_ADMIN_TOKEN is not set: the admin API needs a bearer token to require"
    )


def test_the_command_serves_the_seed_install(processes, service_env, sandbox, db):
    port = free_port()
    processes.env = {**service_env, "SIGNAL_ADMIN_TOKEN": TOKEN}
    processes.start("api", str(BIN / "signal-sendgrid"), "api", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(base + "/openapi.json"), timeout=30, what="the API to answer")

    answer = requests.post(
        base + "/v1/admin/integration-catalog/sendgrid/install",
        data=seed_body(sandbox.key, sandbox.list_id),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    assert sandbox.key not in answer.text
    assert requests.get(base + "/v1/admin/stats", timeout=10).status_code == 401
