"""Authentication and scopes: SendGrid's 401 and 403 bodies, GET /v3/scopes."""

from __future__ import annotations

import requests

from sandbox import DEFAULT_KEY, DEFAULT_SCOPES, make_key, parse_key_spec

GRANT_INVALID = {
    "errors": [
        {
            "field": None,
            "message": "The provided authorization grant is invalid, expired, or revoked",
            "help": None,
        }
    ]
}
FORBIDDEN = {"errors": [{"field": None, "message": "access forbidden"}]}


def test_no_authorization_header_is_401_authorization_required(sandbox):
    response = requests.get(sandbox.url + "/v3/marketing/lists", timeout=5)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"field": None, "message": "authorization required"}]}


def test_a_key_without_bearer_is_401_authorization_required(sandbox):
    response = requests.get(sandbox.url + "/v3/scopes", headers={"Authorization": DEFAULT_KEY}, timeout=5)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "authorization required"


def test_an_unknown_key_is_401_grant_invalid(sandbox):
    response = sandbox.api("GET", "/v3/scopes", key=make_key("stranger"))
    assert response.status_code == 401
    assert response.json() == GRANT_INVALID


def test_a_revoked_key_is_401_until_restored(sandbox):
    sandbox.revoke(sandbox.key)
    assert sandbox.api("GET", "/v3/scopes").json() == GRANT_INVALID
    sandbox.restore(sandbox.key)
    assert sandbox.api("GET", "/v3/scopes").status_code == 200


def test_scopes_lists_the_keys_scopes(sandbox):
    response = sandbox.api("GET", "/v3/scopes")
    assert response.status_code == 200
    assert sorted(response.json()["scopes"]) == sorted(DEFAULT_SCOPES)
    assert "marketing.write" not in response.json()["scopes"]


def test_default_key_looks_like_a_sendgrid_key():
    assert DEFAULT_KEY.startswith("SG.") and len(DEFAULT_KEY) == 69
    assert make_key("x").startswith("SG.") and len(make_key("x")) == 69


def test_key_specs_restrict_scopes():
    key = make_key("reader")
    assert parse_key_spec(f"{key}:marketing_campaigns.read") == (key, ["marketing_campaigns.read"])
    assert parse_key_spec(key) == (key, list(DEFAULT_SCOPES))


def test_a_key_without_the_scope_gets_403(sandbox_factory):
    reader = make_key("reader")
    box = sandbox_factory(keys={reader: ["marketing_campaigns.read"]})
    assert box.api("GET", "/v3/marketing/lists", key=reader).status_code == 200
    assert box.api("GET", "/v3/scopes", key=reader).json() == {"scopes": ["marketing_campaigns.read"]}
    for method, path, body in [
        ("PUT", "/v3/marketing/contacts", {"contacts": [{"email": "a@example.com"}]}),
        ("POST", "/v3/marketing/field_definitions", {"name": "x", "field_type": "Text"}),
        ("POST", "/v3/asm/suppressions/global", {"recipient_emails": ["a@example.com"]}),
        ("GET", "/v3/asm/groups/101/suppressions", None),
    ]:
        response = box.api(method, path, key=reader, json=body)
        assert (response.status_code, response.json()) == (403, FORBIDDEN), path


def test_contacts_put_accepts_update_scope_alone(sandbox):
    updater = make_key("updater")
    sandbox.add_key(updater, ["marketing_campaigns.update"])
    response = sandbox.api("PUT", "/v3/marketing/contacts", key=updater, json={"contacts": [{"email": "a@b.co"}]})
    assert response.status_code == 202
    assert sandbox.api("GET", "/v3/marketing/lists", key=updater).status_code == 403


def test_a_key_added_at_runtime_works(sandbox):
    key = make_key("late")
    assert sandbox.api("GET", "/v3/scopes", key=key).status_code == 401
    sandbox.add_key(key)
    assert sandbox.api("GET", "/v3/scopes", key=key).status_code == 200


def test_trailing_slash_is_404_with_an_empty_body(sandbox):
    for path in ("/v3/scopes/", "/v3/marketing/lists/", "/v3/marketing/contacts/"):
        response = sandbox.api("GET", path, allow_redirects=False)
        assert response.status_code == 404, path
        assert response.content == b""


def test_unknown_api_path_is_404_and_no_redirect_on_double_slash(sandbox):
    assert sandbox.api("GET", "/v3/nothing/here").status_code == 404
    assert sandbox.api("GET", "/v3//scopes", allow_redirects=False).status_code == 404
