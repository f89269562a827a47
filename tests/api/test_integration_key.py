"""POST /v1/admin/integrations/<id>/key on the real API app and the sandbox: what `integrations update-key` and the
console's key form do, answered as the other lifecycle routes answer, a refused key with install's advice."""

from __future__ import annotations

import json

import pytest

from config.secrets import decrypt_key, mask_key
from models import Integration, IntegrationStatus
from sandbox import make_key
from tests.fixtures.services import TEST_SECRET
from tests.helpers.api import INSTALL, seed_body

pytestmark = pytest.mark.integration


def key_route(integration_id: int) -> str:
    return f"/v1/admin/integrations/{integration_id}/key"


def test_a_new_key_is_checked_stored_and_resumes_delivery(api, db, sandbox):
    installed = api.post(INSTALL, json=json.loads(seed_body(sandbox.key, sandbox.list_id))).json()
    with db.begin() as session:
        held = session.get(Integration, installed["id"])
        held.status, held.status_reason = IntegrationStatus.AUTH_FAILED, "SendGrid rejected the API key (401)"
    new_key = make_key("rotated")
    sandbox.add_key(new_key)

    answer = api.post(key_route(installed["id"]), json={"api_key": new_key})

    assert answer.status_code == 200, answer.text
    shown = {k: v for k, v in installed.items() if k not in ("created_fields", "warnings")}
    assert answer.json() == shown | {"api_key": mask_key(new_key), "status": "active", "status_reason": None}
    assert new_key not in answer.text
    with db() as session:
        assert decrypt_key(session.get(Integration, installed["id"]).api_key_encrypted, TEST_SECRET) == new_key


def test_a_refused_key_is_400_with_the_install_advice_and_the_stored_key_stays(api, db, sandbox):
    installed = api.post(INSTALL, json=json.loads(seed_body(sandbox.key, sandbox.list_id))).json()
    unknown = make_key("never-added")

    refused = api.post(key_route(installed["id"]), json={"api_key": unknown})
    install_refused = api.post(INSTALL, json=json.loads(seed_body(unknown, sandbox.list_id)) | {"force": True})

    assert refused.status_code == install_refused.status_code == 400
    message = refused.json()["message"]
    assert message.startswith("update failed: SendGrid rejected the API key (401")
    assert "Settings > API Keys" in message and unknown not in refused.text
    assert message.removeprefix("update failed: ") == install_refused.json()["message"].removeprefix("install failed: ")
    with db() as session:
        assert decrypt_key(session.get(Integration, installed["id"]).api_key_encrypted, TEST_SECRET) == sandbox.key


@pytest.mark.parametrize(
    ("body", "where"),
    [({}, "api_key"), ({"api_key": "SG.with space"}, "api_key"), ({"api_key": "SG.x", "force": True}, "force")],
)
def test_a_malformed_body_is_400_field_by_field_and_an_unknown_id_404(api, sandbox, body, where):
    malformed = api.post(key_route(1), json=body)
    assert malformed.status_code == 400 and where in json.dumps(malformed.json()["errors"]), malformed.text
    missing = api.post(key_route(987654), json={"api_key": sandbox.key})
    assert missing.status_code == 404 and "no integration 987654" in missing.json()["message"]
