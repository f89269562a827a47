"""401 / 403: the integration becomes `auth_failed`, nothing is lost, update-key lets every held delivery out."""

from __future__ import annotations

import pytest

from models import DeliveryStatus, Integration, IntegrationStatus
from sandbox import make_key
from tests.factories import identify
from tests.helpers.delivery import (
    deliveries,
    flush,
    get_integration,
    process,
    puts,
    queue_deliveries,
    settle_imports,
    status_counts,
)
from workers.integrations.install import InstallError, update_key

pytestmark = pytest.mark.integration

HELD_REASON = "waiting: API key rejected ({status}); run `integrations update-key`"


def assert_held(db, integration_id: int, status: int, count: int) -> None:
    stored = get_integration(db, integration_id)
    assert stored.status == IntegrationStatus.AUTH_FAILED
    assert f"SendGrid rejected the API key ({status})" in stored.status_reason
    assert f"integrations update-key {integration_id}" in stored.status_reason
    held = deliveries(db)
    assert len(held) == count
    assert {(d.status, d.status_code, d.reason) for d in held} == {
        (DeliveryStatus.QUEUED, status, HELD_REASON.format(status=status))
    }


def rotate_key(db, sandbox, integration_id: int, settings) -> str:
    new_key = make_key("rotated")
    sandbox.add_key(new_key)
    with db.begin() as session:
        update_key(session, session.get(Integration, integration_id), new_key, settings)
    return new_key


def test_a_revoked_key_loses_nothing_and_update_key_delivers_everything(db, sandbox, integration, client_for, settings):
    sandbox.revoke(sandbox.key)
    first = [identify(f"held{i}@example.com", f"u{i}", first_name=f"Held{i}") for i in range(30)]
    process(db, first)

    report = flush(db, integration.id, client_for)

    assert (report.requests, report.sent, report.failed, report.stopped) == (1, 0, 0, "auth_failed")
    assert [(r["status"], r["contacts"]) for r in puts(sandbox)] == [(401, None)]
    assert_held(db, integration.id, 401, 30)
    assert {d.attempts for d in deliveries(db)} == {1}

    # More events while the key is revoked: stored and queued, and no request goes out for them.
    process(db, [identify(f"later{i}@example.com", f"v{i}") for i in range(20)])
    again = flush(db, integration.id, client_for)
    assert (again.requests, again.stopped) == (0, "integration is auth_failed")
    assert len(puts(sandbox)) == 1
    assert status_counts(db) == {"queued": 50}

    # update-key refuses a key SendGrid rejects, and keeps the integration held.
    with db.begin() as session, pytest.raises(InstallError, match="rejected the API key"):
        update_key(session, session.get(Integration, integration.id), sandbox.key, settings)
    assert get_integration(db, integration.id).status == IntegrationStatus.AUTH_FAILED

    new_key = rotate_key(db, sandbox, integration.id, settings)
    stored = get_integration(db, integration.id)
    assert (stored.status, stored.status_reason) == (IntegrationStatus.ACTIVE, None)
    assert stored.api_key_hint.endswith(new_key[-4:]) and new_key not in stored.api_key_encrypted

    resumed = flush(db, integration.id, client_for)
    assert (resumed.requests, resumed.sent, resumed.failed) == (1, 50, 0)
    settle_imports(db, sandbox, client_for)

    assert status_counts(db) == {"succeeded": 50}
    assert {d.attempts for d in deliveries(db) if d.email.startswith("held")} == {2}
    assert {d.attempts for d in deliveries(db) if d.email.startswith("later")} == {1}
    emails = sorted(c["email"] for c in sandbox.contacts())
    assert emails == sorted([f"held{i}@example.com" for i in range(30)] + [f"later{i}@example.com" for i in range(20)])
    assert sandbox.contact("held7@example.com")["first_name"] == "Held7"
    assert [r["status"] for r in puts(sandbox)] == [401, 202]


def test_a_key_without_marketing_scopes_gets_403_and_holds_deliveries(db, sandbox, integration, client_for, settings):
    # The stored key loses its write scopes in SendGrid (someone edited it under Settings > API Keys).
    sandbox.add_key(sandbox.key, ["marketing_campaigns.read"])
    queue_deliveries(db, integration.id, [(f"scope{i}@example.com", {"first_name": "S"}) for i in range(4)])

    report = flush(db, integration.id, client_for)

    assert (report.requests, report.stopped, report.sent, report.failed) == (1, "auth_failed", 0, 0)
    assert [(r["status"], r["contacts"]) for r in puts(sandbox)] == [(403, None)]
    assert_held(db, integration.id, 403, 4)
    assert sandbox.contacts() == []

    rotate_key(db, sandbox, integration.id, settings)
    assert flush(db, integration.id, client_for).sent == 4
    settle_imports(db, sandbox, client_for)
    assert status_counts(db) == {"succeeded": 4}
    assert sorted(c["email"] for c in sandbox.contacts()) == [f"scope{i}@example.com" for i in range(4)]
