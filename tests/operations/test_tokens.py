"""Tokens: at least 32 characters or refused in one line; SIGNAL_INGEST_TOKEN allows POST /v1/events and nothing
else; SIGNAL_METRICS_TOKEN, when set, guards /metrics (the admin token works there too)."""

from __future__ import annotations

import pytest

from config.settings import ConfigError, load_settings
from tests.factories import identify
from tests.fixtures.processes import cli
from tests.helpers.api import TOKEN, api_env, queued_messages

pytestmark = pytest.mark.integration

INGEST = "ingest-token-for-producers-0123456789abcdef"
METRICS = "metrics-token-for-prometheus-0123456789abcd"


@pytest.mark.parametrize("name", ["SIGNAL_ADMIN_TOKEN", "SIGNAL_INGEST_TOKEN", "SIGNAL_METRICS_TOKEN"])
def test_a_token_shorter_than_32_characters_is_refused_in_one_line(name):
    with pytest.raises(ConfigError) as refused:
        load_settings({name: "x" * 31})
    assert str(refused.value) == (
        f"{name} must be at least 32 characters (it has 31): "
        "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
    )
    assert load_settings({name: "x" * 32})


def test_the_api_command_refuses_a_short_admin_token(service_env):
    done = cli({**service_env, "SIGNAL_ADMIN_TOKEN": "change-me"}, "api", "--port", "1", timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: SIGNAL_ADMIN_TOKEN must be at least 32 characters (it has 9)")
    assert "change-me" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.fixture
def api(serve, pg_url, sandbox, clean_broker):  # noqa: F811 - the fixture imported above
    env = api_env(pg_url, sandbox.url, clean_broker, SIGNAL_INGEST_TOKEN=INGEST, SIGNAL_METRICS_TOKEN=METRICS)
    return serve(load_settings(env))


def test_the_ingest_token_allows_posting_events_and_nothing_else(api, clean_broker):
    assert api.post("/v1/events", token=INGEST, json=identify("ada@example.com", "u-1")).status_code == 202
    assert api.post("/v1/events", token=TOKEN, json=identify("bob@example.com", "u-2")).status_code == 202
    assert len(queued_messages(clean_broker)) == 2

    for method, path in [("GET", "/v1/admin/stats"), ("GET", "/v1/admin/integrations"), ("GET", "/v1/events")]:
        answer = api.request(method, path, token=INGEST)
        assert answer.status_code in (403, 405), (path, answer.status_code)
    refused = api.get("/v1/admin/stats", token=INGEST)
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "SIGNAL_INGEST_TOKEN only allows POST /v1/events; this route needs the admin token"
    )
    assert api.post("/v1/admin/deliveries/replay", token=INGEST, json={"status": "failed"}).status_code == 403
    assert api.post("/v1/events", token=INGEST[:-1], json=identify("c@example.com", "u-3")).status_code == 401
    assert api.get("/v1/admin/stats", token=TOKEN).status_code == 200


def test_the_metrics_token_guards_metrics_when_set(api, serve, pg_url, sandbox, clean_broker):
    assert api.get("/metrics", token=None).status_code == 401
    assert api.get("/metrics", token=INGEST).status_code == 401
    for token in (METRICS, TOKEN):
        answer = api.get("/metrics", token=token)
        assert answer.status_code == 200 and "signal_sendgrid_events_received_total" in answer.text

    open_metrics = serve(load_settings(api_env(pg_url, sandbox.url, clean_broker)))
    assert open_metrics.get("/metrics", token=None).status_code == 200  # no SIGNAL_METRICS_TOKEN: open
