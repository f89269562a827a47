"""POST /v1/admin/integration-catalog/sendgrid/install: the product page's curl body, malformed bodies, bad keys."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from config.secrets import decrypt_key
from models import Integration
from tests.fixtures.services import TEST_SECRET
from tests.helpers.api import INSTALL, seed_body

pytestmark = pytest.mark.integration


def post_seed(api, key: str, list_id: str):
    """POST the seed's curl body as curl sends it: the exact text, Content-Type application/json."""
    return api.post(INSTALL, data=seed_body(key, list_id), headers={"Content-Type": "application/json"})


def count_integrations(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Integration))


def test_the_seed_curl_body_installs_a_usable_integration(api, db, sandbox):
    answer = post_seed(api, sandbox.key, sandbox.list_id)

    assert answer.status_code == 201, answer.text
    assert sandbox.key not in answer.text
    body = answer.json()
    assert body["name"] == "SendGrid" and body["variant"] == "default" and body["delivery_mode"] == "server_side"
    assert body["status"] == "active" and body["status_reason"] is None
    assert body["api_key"] == f"SG.…{sandbox.key[-4:]}"
    assert body["api_url"] == sandbox.url and body["default_list_id"] == sandbox.list_id
    assert set(body["field_ids"]) >= {"signal_user_id", "last_page_url", "last_product_id", "lifetime_value"}
    assert set(body["created_fields"]) >= {"signal_user_id", "lifetime_value"}
    assert body["created_at"]

    definitions = sandbox.api("GET", "/v3/marketing/field_definitions").json()["custom_fields"]
    defined = {f["name"]: f["id"] for f in definitions}
    assert {name: defined[name] for name in body["field_ids"]} == body["field_ids"]
    with db() as session:
        stored = session.get(Integration, body["id"])
        assert decrypt_key(stored.api_key_encrypted, TEST_SECRET) == sandbox.key  # the workers can use it

    listed = api.get("/v1/admin/integrations")
    assert listed.status_code == 200 and sandbox.key not in listed.text
    assert [(i["id"], i["api_key"], i["status"]) for i in listed.json()] == [(body["id"], body["api_key"], "active")]


def test_install_with_the_optional_config_extras(api, db, sandbox):
    config = {
        "api_key": sandbox.key,
        "fields": {"plan": "plan_name"},
        "user_id_field": "customer_ref",
        "unsubscribe_group_id": sandbox.group_id,
        "require_consent": True,
        "region": "us",
    }
    answer = api.post(INSTALL, json={"config": config})  # name, variant, delivery_mode default
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["name"], body["variant"], body["default_list_id"]) == ("SendGrid", "default", None)
    assert {"plan_name", "customer_ref"} <= set(body["field_ids"]) and "signal_user_id" not in body["field_ids"]
    with db() as session:
        stored = session.get(Integration, body["id"])
        assert stored.config["trait_fields"] == {"plan": "plan_name"}
        assert stored.config["require_consent"] is True
        assert stored.unsubscribe_group_id == sandbox.group_id


def test_a_revoked_key_gives_the_troubleshooting_advice_and_never_the_key(api, db, sandbox):
    sandbox.revoke(sandbox.key)
    answer = post_seed(api, sandbox.key, sandbox.list_id)
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == 400
    assert "rejected the API key (401" in body["message"]
    # The product page's Troubleshooting row for 401 Unauthorized.
    assert "Settings > API Keys" in body["message"]
    assert "Marketing read/write permissions" in body["message"]
    assert sandbox.key not in answer.text and sandbox.key[3:20] not in answer.text
    assert count_integrations(db) == 0


def test_an_unknown_list_is_named(api, db, sandbox):
    answer = post_seed(api, sandbox.key, "no-such-list")
    assert answer.status_code == 400
    assert "list no-such-list does not exist" in answer.json()["message"]
    assert count_integrations(db) == 0


def valid_body() -> dict:
    return json.loads(seed_body("SG.AbcdefghijKlmnopqrstUv.wxyz0123456789abcdefghijklmnopqrstuvwxyzABCD", "list-1"))


def changed(path: str, value: object) -> dict:
    """The seed's body with one value replaced (`config.api_key`), or removed when value is REMOVE."""
    body = valid_body()
    *parents, last = path.split(".")
    target = body
    for key in parents:
        target = target[key]
    if value is REMOVE:
        del target[last]
    else:
        target[last] = value
    return body


REMOVE = object()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (changed("config.api_key", REMOVE), ["config", "api_key"]),
        (changed("config", REMOVE), ["config"]),
        (changed("surprise", True), ["surprise"]),
        (changed("config.list_id", "x"), ["config", "list_id"]),
        (changed("name", 5), ["name"]),
        (changed("name", ""), ["name"]),
        (changed("name", "a\x00b"), ["name"]),
        (changed("config", "SG.key"), ["config"]),
        (changed("config.api_key", 12345), ["config", "api_key"]),
        (changed("config.api_key", "SG key with spaces"), ["config", "api_key"]),
        (changed("config.api_key", "SG.k\u00e9y"), ["config", "api_key"]),
        (changed("config.default_list_id", ["a"]), ["config", "default_list_id"]),
        (changed("config.require_consent", "maybe"), ["config", "require_consent"]),
        (changed("config.unsubscribe_group_id", "12"), ["config", "unsubscribe_group_id"]),
        (changed("config.region", "asia"), ["config", "region"]),
        (changed("config.fields", {"plan": "email"}), ["config", "fields"]),
        (changed("config.fields", {"plan": "has space"}), ["config", "fields"]),
        (changed("config.fields", ["plan"]), ["config", "fields"]),
        (changed("config.user_id_field", "1st"), ["config", "user_id_field"]),
        (changed("delivery_mode", "client_side"), ["delivery_mode"]),
        (changed("delivery_mode", None), ["delivery_mode"]),
        ([valid_body()], ["_schema"]),
        ("a string", ["_schema"]),
    ],
    ids=lambda v: ".".join(v) if isinstance(v, list) and all(isinstance(p, str) for p in v) else None,
)
def test_malformed_bodies_are_400_field_by_field_before_any_request_to_sendgrid(api, db, sandbox, body, where):
    answer = api.post(INSTALL, json=body)
    assert answer.status_code == 400, answer.text
    errors = answer.json()["errors"]["json"]
    for key in where:
        errors = errors[key]
    assert errors
    assert answer.json()["message"]
    assert sandbox.requests_log() == []
    assert count_integrations(db) == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"name": "SendGrid", "config": {', "application/json"),
        ("{'name': 'SendGrid'}", "application/json"),
        (b"\xff\xfe{}", "application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/json"),
    ],
    ids=["truncated", "single-quotes", "not-utf8", "deeply-nested"],
)
def test_a_body_that_is_not_json_is_400(api, sandbox, data, content_type):
    answer = api.post(INSTALL, data=data, headers={"Content-Type": content_type})
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"] == {"json": ["Invalid JSON body."]}
    assert sandbox.requests_log() == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
def test_an_empty_or_undeclared_body_is_400_naming_config(api, sandbox, content_type):
    data = "" if content_type == "application/json" else seed_body(sandbox.key, sandbox.list_id)
    answer = api.post(INSTALL, data=data, headers={"Content-Type": content_type})
    assert answer.status_code == 400
    assert answer.json()["errors"] == {"json": {"config": ["Missing data for required field."]}}
    assert sandbox.requests_log() == []
