"""400s: a contact SendGrid refuses, stale custom field ids, an unknown list."""

from __future__ import annotations

import pytest

from models import DeliveryStatus, Integration, IntegrationStatus
from tests.helpers.delivery import (
    deliveries,
    flush,
    get_integration,
    puts,
    queue_deliveries,
    settle_imports,
    upsert_attempts,
)

pytestmark = pytest.mark.integration


def calls(sandbox, since: int) -> list[tuple]:
    return [(r["method"], r["path"], r["status"], r["contacts"]) for r in sandbox.requests_log()[since:]]


def test_contacts_named_by_a_400_fail_and_the_rest_are_resent_at_once(db, sandbox, integration, client_for):
    # Both addresses pass the local email check but not SendGrid's, so only SendGrid can name them.
    batch = [(f"fine{i}@example.com", {"first_name": f"Fine{i}"}) for i in range(6)]
    batch.insert(2, ("ip@[127.0.0.1]", {"first_name": "Ip"}))
    batch.insert(5, ("typo@example.c0m", {"first_name": "Typo"}))
    ids = queue_deliveries(db, integration.id, batch)

    report = flush(db, integration.id, client_for)

    assert (report.requests, report.failed, report.sent, report.stopped) == (2, 2, 6, None)
    log = puts(sandbox)
    assert [(r["status"], r["contacts"]) for r in log] == [(400, 8), (202, 6)]
    first, second = upsert_attempts(db)
    assert (first.status_code, first.contacts_count) == (400, 8)
    assert "contacts[2].email" in first.error and "contacts[5].email" in first.error
    assert (second.status_code, second.contacts_count, second.error) == (202, 6, None)
    by_id = {d.id: d for d in deliveries(db)}
    local, typo = by_id[ids[2]], by_id[ids[5]]
    for bad, email in ((local, "ip@[127.0.0.1]"), (typo, "typo@example.c0m")):
        assert (bad.status, bad.status_code, bad.attempts, bad.attempt_id) == (
            DeliveryStatus.FAILED,
            400,
            1,
            first.id,
        )
        assert bad.reason == f"SendGrid rejected this contact: email '{email}' is not valid"
    fine = [d for d in by_id.values() if d.id not in (local.id, typo.id)]
    assert [(d.status, d.status_code, d.attempts, d.attempt_id) for d in fine] == [
        (DeliveryStatus.SENT, 202, 2, second.id)
    ] * 6

    settle_imports(db, sandbox, client_for)
    assert sorted(c["email"] for c in sandbox.contacts()) == [f"fine{i}@example.com" for i in range(6)]
    final = {d.id: d.status for d in deliveries(db)}
    assert [final[i] for i in ids] == [DeliveryStatus.SUCCEEDED] * 2 + [DeliveryStatus.FAILED] + [
        DeliveryStatus.SUCCEEDED
    ] * 2 + [DeliveryStatus.FAILED] + [DeliveryStatus.SUCCEEDED] * 2
    assert get_integration(db, integration.id).status == IntegrationStatus.ACTIVE


def test_an_email_the_schema_refuses_fails_alone_without_blocking_the_flush(db, sandbox, integration, client_for):
    ids = queue_deliveries(
        db, integration.id, [("first@example.com", {}), ("not-an-email", {"first_name": "X"}), ("last@example.com", {})]
    )

    report = flush(db, integration.id, client_for)

    assert (report.requests, report.failed, report.sent) == (1, 1, 2)
    assert [r["contacts"] for r in puts(sandbox)] == [2]
    bad = next(d for d in deliveries(db) if d.id == ids[1])
    assert (bad.status, bad.attempts, bad.status_code) == (DeliveryStatus.FAILED, 0, None)
    assert bad.reason.startswith("invalid contact, not sent: ") and "email" in bad.reason
    settle_imports(db, sandbox, client_for)
    assert sorted(c["email"] for c in sandbox.contacts()) == ["first@example.com", "last@example.com"]


def test_stale_custom_field_ids_are_refreshed_and_the_request_sent_again(db, sandbox, integration, client_for):
    with db.begin() as session:
        stored = session.get(Integration, integration.id)
        real_ids = dict(stored.field_ids)
        # As if the fields had been deleted and recreated in SendGrid: the ids we hold are gone.
        stored.field_ids = {**real_ids, "signal_user_id": "e999_T", "last_page_url": "e998_T"}
    queue_deliveries(
        db,
        integration.id,
        [
            ("stale1@example.com", {"first_name": "Stale", "signal_user_id": "u1"}),
            ("stale2@example.com", {"last_page_url": "https://shop.example/x", "lifetime_value": 3}),
        ],
    )

    before = len(sandbox.requests_log())

    report = flush(db, integration.id, client_for)

    assert (report.sent, report.failed, report.stopped) == (2, 0, None)
    # One refresh of the definitions, nothing created (every field exists), one re-send.
    assert calls(sandbox, before) == [
        ("PUT", "/v3/marketing/contacts", 400, 2),
        ("GET", "/v3/marketing/field_definitions", 200, None),
        ("PUT", "/v3/marketing/contacts", 202, 2),
    ]
    assert get_integration(db, integration.id).field_ids == real_ids
    assert [(d.status, d.attempts, d.status_code) for d in deliveries(db)] == [(DeliveryStatus.SENT, 2, 202)] * 2

    settle_imports(db, sandbox, client_for)
    contacts = {c["email"]: c for c in sandbox.contacts()}
    assert contacts["stale1@example.com"]["custom_fields"] == {"signal_user_id": "u1"}
    assert contacts["stale2@example.com"]["custom_fields"] == {
        "last_page_url": "https://shop.example/x",
        "lifetime_value": 3,
    }
    assert {d.status for d in deliveries(db)} == {DeliveryStatus.SUCCEEDED}


def test_a_field_missing_in_sendgrid_is_recreated_after_invalid_custom_field_ids(db, sandbox, integration, client_for):
    with db.begin() as session:
        stored = session.get(Integration, integration.id)
        # A field configured later (trait mapping) whose id we think we know, but SendGrid has no such field.
        stored.config = {**stored.config, "trait_fields": {"plan": "plan_name"}}
        stored.field_ids = {**stored.field_ids, "plan_name": "e777_T"}
    queue_deliveries(db, integration.id, [("plan@example.com", {"plan_name": "gold", "first_name": "Pat"})])

    before = len(sandbox.requests_log())

    report = flush(db, integration.id, client_for)

    assert (report.sent, report.failed) == (1, 0)
    # Only the custom field is created again; first_name is reserved, so no attempt to create it.
    assert calls(sandbox, before) == [
        ("PUT", "/v3/marketing/contacts", 400, 1),
        ("GET", "/v3/marketing/field_definitions", 200, None),
        ("POST", "/v3/marketing/field_definitions", 200, None),
        ("PUT", "/v3/marketing/contacts", 202, 1),
    ]
    fields = {f["name"]: f for f in sandbox.api("GET", "/v3/marketing/field_definitions").json()["custom_fields"]}
    assert get_integration(db, integration.id).field_ids["plan_name"] == fields["plan_name"]["id"] != "e777_T"
    settle_imports(db, sandbox, client_for)
    assert sandbox.contact("plan@example.com")["custom_fields"] == {"plan_name": "gold"}
    assert {d.status for d in deliveries(db)} == {DeliveryStatus.SUCCEEDED}


def test_an_unknown_list_pauses_the_integration_and_keeps_deliveries_queued(db, sandbox, integration, client_for):
    missing = "0b7e0000-dead-4bee-8000-00000000abcd"
    with db.begin() as session:
        session.get(Integration, integration.id).default_list_id = missing
    queue_deliveries(db, integration.id, [(f"list{i}@example.com", {"first_name": "L"}) for i in range(3)])

    report = flush(db, integration.id, client_for)

    assert (report.requests, report.stopped, report.failed) == (1, "paused", 0)
    assert [(r["status"], r["contacts"]) for r in puts(sandbox)] == [(400, 3)]
    paused = get_integration(db, integration.id)
    assert paused.status == IntegrationStatus.PAUSED
    assert f"SendGrid does not know list '{missing}'" in paused.status_reason
    assert f"integrations update {integration.id} --default-list-id" in paused.status_reason
    assert [(d.status, d.status_code, d.attempts, d.reason) for d in deliveries(db)] == [
        (DeliveryStatus.QUEUED, 400, 1, "waiting: integration paused (unknown list)")
    ] * 3

    # Paused: the next flush sends nothing at all.
    again = flush(db, integration.id, client_for)
    assert (again.requests, again.stopped) == (0, "integration is paused")
    assert len(puts(sandbox)) == 1

    # Once the list exists and the integration is resumed, the held deliveries arrive.
    sandbox.add_list(missing)
    with db.begin() as session:
        stored = session.get(Integration, integration.id)
        stored.status, stored.status_reason = IntegrationStatus.ACTIVE, None
    assert flush(db, integration.id, client_for).sent == 3
    settle_imports(db, sandbox, client_for)
    assert sorted(c["email"] for c in sandbox.contacts()) == [f"list{i}@example.com" for i in range(3)]
    assert {tuple(c["list_ids"]) for c in sandbox.contacts()} == {(missing,)}
    assert {d.status for d in deliveries(db)} == {DeliveryStatus.SUCCEEDED}


def test_a_contact_whose_field_cannot_be_created_fails_alone_after_a_refresh(db, sandbox, integration, client_for):
    with db.begin() as session:
        stored = session.get(Integration, integration.id)
        # Both ids are stale; "bad name!" cannot be created again (SendGrid's name rules refuse it).
        stored.field_ids = {**stored.field_ids, "signal_user_id": "e999_T", "bad name!": "e555_T"}
    ids = queue_deliveries(
        db,
        integration.id,
        [("keep@example.com", {"signal_user_id": "u1"}), ("odd@example.com", {"bad name!": "x"})],
    )
    before = len(sandbox.requests_log())

    report = flush(db, integration.id, client_for)

    assert calls(sandbox, before) == [
        ("PUT", "/v3/marketing/contacts", 400, 2),
        ("GET", "/v3/marketing/field_definitions", 200, None),
        ("POST", "/v3/marketing/field_definitions", 400, None),
        ("PUT", "/v3/marketing/contacts", 202, 1),  # without the contact that has no valid field id
    ]
    assert (report.sent, report.failed) == (1, 1)
    keep, odd = deliveries(db)
    assert (keep.id, keep.status, keep.attempts) == (ids[0], DeliveryStatus.SENT, 2)
    assert (odd.status, odd.reason) == (
        DeliveryStatus.FAILED,
        "custom field bad name! could not be created in SendGrid",
    )
    settle_imports(db, sandbox, client_for)
    assert [c["email"] for c in sandbox.contacts()] == ["keep@example.com"]
    assert sandbox.contact("keep@example.com")["custom_fields"] == {"signal_user_id": "u1"}
