"""Per-key rate limiting: the three X-RateLimit headers on every response, and SendGrid's 429."""

from __future__ import annotations

import time

import requests

from sandbox import make_key

HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def test_every_api_response_carries_the_headers(sandbox):
    responses = [
        sandbox.api("GET", "/v3/scopes"),
        sandbox.api("GET", "/v3/scopes/"),
        sandbox.api("GET", "/v3/marketing/contacts/imports/nope"),
        sandbox.api("PUT", "/v3/marketing/contacts", json={"contacts": []}),
        requests.get(sandbox.url + "/v3/scopes", timeout=5),
        sandbox.api("GET", "/v3/scopes", key=make_key("unknown")),
    ]
    for response in responses:
        assert all(h in response.headers for h in HEADERS), (response.status_code, response.headers)


def test_remaining_counts_down_and_reset_is_epoch_seconds(sandbox_factory):
    box = sandbox_factory(rate_limit=5, rate_window=30)
    first, second = box.api("GET", "/v3/scopes"), box.api("GET", "/v3/scopes")
    assert first.headers["X-RateLimit-Limit"] == "5"
    assert (first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]) == ("4", "3")
    reset = int(first.headers["X-RateLimit-Reset"])
    assert time.time() + 25 < reset <= time.time() + 31


def test_relative_reset_switch(sandbox_factory):
    box = sandbox_factory(rate_limit=5, rate_window=30, relative_reset=True)
    reset = int(box.api("GET", "/v3/scopes").headers["X-RateLimit-Reset"])
    assert 25 <= reset <= 30


def test_over_the_limit_is_429_with_sendgrids_body(sandbox_factory):
    box = sandbox_factory(rate_limit=2, rate_window=30)
    assert [box.api("GET", "/v3/scopes").status_code for _ in range(2)] == [200, 200]
    response = box.api("GET", "/v3/scopes")
    assert response.status_code == 429
    assert response.json() == {"errors": [{"field": None, "message": "too many requests"}]}
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in response.headers


def test_limits_are_per_key(sandbox_factory):
    other = make_key("other")
    box = sandbox_factory(rate_limit=1, rate_window=30)
    box.add_key(other)
    assert box.api("GET", "/v3/scopes").status_code == 200
    assert box.api("GET", "/v3/scopes").status_code == 429
    assert box.api("GET", "/v3/scopes", key=other).status_code == 200


def test_the_window_resets(sandbox_factory):
    box = sandbox_factory(rate_limit=1, rate_window=0.2)
    assert box.api("GET", "/v3/scopes").status_code == 200
    assert box.api("GET", "/v3/scopes").status_code == 429
    time.sleep(0.25)
    assert box.api("GET", "/v3/scopes").status_code == 200


def test_limits_can_change_at_runtime(sandbox):
    sandbox.settings(rate_limit=1, rate_window=30, relative_reset=True)
    response = sandbox.api("GET", "/v3/scopes")
    assert response.headers["X-RateLimit-Limit"] == "1"
    assert int(response.headers["X-RateLimit-Reset"]) <= 30
    assert sandbox.api("GET", "/v3/scopes").status_code == 429
