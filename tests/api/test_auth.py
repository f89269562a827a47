"""Bearer authentication of the admin API: every protected route, missing and wrong tokens, no token set."""

from __future__ import annotations

import pytest

from config.settings import load_settings
from tests.helpers.api import OPERATIONS, TOKEN, api_env

pytestmark = pytest.mark.integration

# Every operation, plus an unknown route: no token, no route discovery (401 before 404).
PROTECTED = [*sorted(OPERATIONS), ("GET", "/v1/admin/no-such-route")]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong-token",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
        "Bearer t\u00f6ken",  # latin-1 in a header must be a 401, not a 500
    ],
)
def test_protected_routes_need_the_right_bearer_token(api, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in PROTECTED:
        answer = api.request(method, path, token=None, headers=headers, json={"config": {"api_key": "SG.x"}})
        assert answer.status_code == 401, (method, path)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        body = answer.json()
        assert body["code"] == 401 and body["status"] == "Unauthorized"
        assert "Authorization: Bearer" in body["message"]


def test_the_token_is_accepted_with_any_case_of_the_scheme(api):
    assert api.get("/v1/admin/stats", token=None, headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    assert api.get("/v1/admin/stats").status_code == 200


def test_the_document_and_the_docs_page_need_no_token(api):
    assert api.get("/openapi.json", token=None).status_code == 200
    docs = api.get("/docs", token=None)
    assert docs.status_code == 200 and docs.headers["Content-Type"].startswith("text/html")


def test_without_a_configured_token_every_admin_route_answers_503(serve, pg_url, sandbox, clean_broker):
    settings = load_settings(api_env(pg_url, sandbox.url, clean_broker, SIGNAL_ADMIN_TOKEN=""))
    api = serve(settings)
    for method, path in PROTECTED:
        answer = api.request(method, path, json={})
        assert answer.status_code == 503
        assert "SIGNAL_ADMIN_TOKEN is not configured" in answer.json()["message"]
    assert api.get("/openapi.json").status_code == 200
