"""At most 100 custom field mappings per integration, and the account's custom field budget (SendGrid holds 500
custom fields per account) checked before any field is created: install and update refuse with the reason and
leave SendGrid's fields as they were."""

from __future__ import annotations

import json

import pytest

from models import Integration
from tests.helpers.api import INSTALL, seed_body
from workers.integrations.install import InstallError, InstallRequest, install, update_integration

pytestmark = pytest.mark.integration


def mappings(count: int, prefix: str = "trait") -> dict[str, str]:
    return {f"{prefix}{n}": f"{prefix}_field_{n}" for n in range(count)}


def custom_fields(sandbox) -> list[str]:
    return [f["name"] for f in sandbox.api("GET", "/v3/marketing/field_definitions").json()["custom_fields"]]


def fill_account(sandbox, count: int) -> None:
    """Custom fields made by someone else in the account (in the sandbox's state: 400 HTTP calls are slow)."""
    for n in range(count):
        sandbox.server.state.create_field(f"other_{n}", "Text")


def test_more_than_100_mappings_are_refused_before_any_request(db, sandbox, settings):
    request = InstallRequest(api_key=sandbox.key, default_list_id=sandbox.list_id, trait_fields=mappings(101))
    refused = pytest.raises(InstallError, match="101 custom field mappings: at most 100 per integration")
    with refused, db.begin() as session:
        install(session, request, settings)
    assert sandbox.requests_log() == [] and custom_fields(sandbox) == []
    with db.begin() as session:  # 100 are fine
        request.trait_fields = mappings(100)
        assert len(install(session, request, settings).created_fields) == 105  # and the 5 built-in fields


def test_the_api_refuses_101_mappings_with_the_reason(api, sandbox):
    body = json.loads(seed_body(sandbox.key, sandbox.list_id))
    body["config"]["fields"] = mappings(101)
    answer = api.post(INSTALL, json=body)
    assert answer.status_code == 400
    assert answer.json()["errors"]["json"]["config"]["fields"] == ["at most 100 custom field mappings per integration"]
    assert custom_fields(sandbox) == []


def test_an_install_that_would_pass_the_account_budget_creates_no_field(db, sandbox, settings):
    fill_account(sandbox, 420)  # room for 80: the 5 built-in fields and 80 traits do not fit
    request = InstallRequest(api_key=sandbox.key, default_list_id=sandbox.list_id, trait_fields=mappings(80))
    with pytest.raises(InstallError) as refused, db.begin() as session:
        install(session, request, settings)
    assert "needs 85 new custom fields" in str(refused.value) and "has 420 of its 500 and room for 80" in str(
        refused.value
    )
    assert len(custom_fields(sandbox)) == 420  # nothing created
    with db.begin() as session:  # 75 traits + 5 fill the account exactly
        request.trait_fields = mappings(75)
        assert len(install(session, request, settings).created_fields) == 80
    assert len(custom_fields(sandbox)) == 500


def test_update_checks_the_mappings_and_the_budget_as_install_does(db, sandbox, integration, settings):
    fill_account(sandbox, 490)  # the integration's 5 fields + 490: room for 5
    with db.begin() as session:
        stored = session.get(Integration, integration.id)
        with pytest.raises(InstallError, match="at most 100 per integration"):
            update_integration(session, stored, settings, trait_fields=mappings(101))
        with pytest.raises(InstallError, match="needs 6 new custom fields"):
            update_integration(session, stored, settings, trait_fields=mappings(6, "plan"))
    assert len(custom_fields(sandbox)) == 495
    with db.begin() as session:
        stored = session.get(Integration, integration.id)
        result = update_integration(session, stored, settings, trait_fields=mappings(5, "plan"))
    assert sorted(result.created_fields) == sorted(mappings(5, "plan").values())
    with db() as session:
        assert session.get(Integration, integration.id).config["trait_fields"] == mappings(5, "plan")
