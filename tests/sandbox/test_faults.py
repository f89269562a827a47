"""Fault injection, at start and at runtime: latency, 5xx, resets, 429 storms, revoked keys."""

from __future__ import annotations

import time

import pytest
import requests


def statuses(box, n, path="/v3/scopes"):
    return [box.api("GET", path).status_code for _ in range(n)]


def test_added_latency(sandbox):
    sandbox.set_faults(latency_ms=150)
    started = time.monotonic()
    assert sandbox.api("GET", "/v3/scopes").status_code == 200
    assert time.monotonic() - started >= 0.15
    sandbox.clear_faults()
    started = time.monotonic()
    sandbox.api("GET", "/v3/scopes")
    assert time.monotonic() - started < 0.15


def test_every_request_fails_with_the_chosen_status(sandbox):
    sandbox.set_faults(error_rate=1.0, error_status=502)
    response = sandbox.api("GET", "/v3/scopes")
    assert response.status_code == 502
    assert "errors" in response.json()
    assert "X-RateLimit-Limit" in response.headers


def test_a_share_of_errors_is_deterministic_with_a_seed(sandbox):
    sandbox.set_faults(error_rate=0.5, seed=42)
    first = statuses(sandbox, 40)
    sandbox.set_faults(error_rate=0.5, seed=42)
    assert statuses(sandbox, 40) == first
    assert 5 < first.count(503) < 35 and set(first) == {200, 503}


def test_connection_resets_reach_the_client_as_connection_errors(sandbox):
    sandbox.set_faults(reset_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        sandbox.api("PUT", "/v3/marketing/contacts", json={"contacts": [{"email": "a@example.com"}]})
    assert sandbox.jobs() == []
    assert sandbox.requests_log()[-1]["fault"] == "reset"
    sandbox.clear_faults()
    assert sandbox.api("GET", "/v3/scopes").status_code == 200


def test_a_429_storm_by_count(sandbox):
    sandbox.set_faults(storm_429={"count": 3})
    responses = [sandbox.api("GET", "/v3/scopes") for _ in range(4)]
    assert [r.status_code for r in responses] == [429, 429, 429, 200]
    storm = responses[0]
    assert storm.json() == {"errors": [{"field": None, "message": "too many requests"}]}
    assert storm.headers["X-RateLimit-Remaining"] == "0"
    assert time.time() < int(storm.headers["X-RateLimit-Reset"]) <= time.time() + 3


def test_a_429_storm_for_some_seconds(sandbox):
    sandbox.set_faults(storm_429={"seconds": 0.3})
    assert statuses(sandbox, 2) == [429, 429]
    time.sleep(0.35)
    assert statuses(sandbox, 1) == [200]


def test_faults_can_target_paths(sandbox):
    sandbox.set_faults(error_rate=1.0, paths=["/v3/marketing/contacts"])
    assert sandbox.api("GET", "/v3/scopes").status_code == 200
    assert sandbox.api("PUT", "/v3/marketing/contacts", json={"contacts": [{"email": "a@e.co"}]}).status_code == 503


def test_control_endpoints_are_never_faulted(sandbox):
    sandbox.set_faults(error_rate=1.0, reset_rate=1.0)
    assert sandbox.contacts() == []
    assert sandbox.faults()["reset_rate"] == 1.0


def test_faults_given_at_start(sandbox_factory):
    box = sandbox_factory(faults={"error_rate": 1.0, "error_status": 500})
    assert box.api("GET", "/v3/scopes").status_code == 500


@pytest.mark.parametrize(
    "faults",
    [{"error_rate": 2}, {"error_status": 404}, {"latency_ms": -1}, {"storm_429": {"count": "many"}}],
)
def test_nonsense_fault_configurations_are_refused(sandbox, faults):
    response = requests.post(sandbox.url + "/_sandbox/faults", json=faults, timeout=5)
    assert response.status_code == 400


def test_revoking_and_restoring_a_key_at_runtime(sandbox):
    sandbox.revoke(sandbox.key)
    assert sandbox.api("GET", "/v3/scopes").status_code == 401
    sandbox.restore(sandbox.key)
    assert sandbox.api("GET", "/v3/scopes").status_code == 200
    response = requests.post(sandbox.url + "/_sandbox/keys/SG.nope/revoke", timeout=5)
    assert response.status_code == 404
