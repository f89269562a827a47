"""The pipeline's plain functions against real PostgreSQL and the sandbox over HTTP (no broker)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from models import Delivery, DeliveryAttempt, DeliveryStatus, Event, EventStatus, Integration, IntegrationStatus
from models.base import utcnow
from tests.factories import event, identify
from workers.delivery.flush import flush_integration
from workers.delivery.imports import poll_imports
from workers.ingest.inbox import Incoming, store_events
from workers.integrations.install import InstallError, InstallRequest, install
from workers.processing.process import process_events
from workers.sendgrid.client import SendGridClient

pytestmark = pytest.mark.integration


def client_for(key):
    return lambda integration: SendGridClient(integration.api_url, key)


def run_pipeline(db, sandbox, events: list[dict]) -> None:
    with db.begin() as session:
        ids = store_events(session, [Incoming(json.dumps(e).encode()) for e in events])
    touched = process_events(db, ids)
    for integration_id in touched:
        flush_integration(db, integration_id, client_for(sandbox.key))
    sandbox.flush_jobs()
    poll_imports(db, client_for(sandbox.key), now=utcnow() + timedelta(minutes=1))


def test_install_creates_fields_and_stores_key_encrypted(db, sandbox, integration):
    fields = sandbox.api("GET", "/v3/marketing/field_definitions").json()["custom_fields"]
    names = {f["name"]: f["field_type"] for f in fields}
    assert names["signal_user_id"] == "Text"
    assert names["lifetime_value"] == "Number"
    assert names["last_purchase_at"] == "Date"
    with db() as session:
        stored = session.get(Integration, integration.id)
        assert sandbox.key not in stored.api_key_encrypted
        assert stored.api_key_hint.startswith("SG.") and stored.api_key_hint.endswith(sandbox.key[-4:])
        assert set(stored.field_ids) >= {"signal_user_id", "last_page_url", "last_product_id"}


@pytest.mark.parametrize(
    ("key_change", "expected"),
    [("revoke", "rejected the API key (401"), ("no_marketing", "lacks the Marketing scopes")],
)
def test_install_with_a_bad_key_gives_the_troubleshooting_advice(db, sandbox, settings, key_change, expected):
    key = sandbox.key
    if key_change == "revoke":
        sandbox.revoke(key)
    else:
        key = "SG.NoMarketingScopes00000.only-asm-scopes-for-this-key-000000000000000"
        sandbox.add_key(key, ["asm.groups.suppressions.create"])
    with db.begin() as session, pytest.raises(InstallError) as failure:
        install(session, InstallRequest(api_key=key), settings)
    assert expected in str(failure.value)
    assert "Settings > API Keys" in str(failure.value)
    assert key not in str(failure.value)


def test_install_rejects_an_unknown_list(db, sandbox, settings):
    with db.begin() as session, pytest.raises(InstallError, match="does not exist"):
        install(session, InstallRequest(api_key=sandbox.key, default_list_id="0000-not-a-list"), settings)


def test_identify_events_become_contacts_in_one_request(db, sandbox, integration):
    events = [identify(f"User{i}@Example.com ", f"u{i}", first_name=f"Ann{i}", last_name="Lee") for i in range(25)]
    run_pipeline(db, sandbox, events)

    contacts = {c["email"]: c for c in sandbox.contacts()}
    assert len(contacts) == 25
    ann = contacts["user3@example.com"]
    assert ann["first_name"] == "Ann3" and ann["last_name"] == "Lee"
    assert ann["custom_fields"]["signal_user_id"] == "u3"
    assert ann["list_ids"] == [sandbox.list_id]
    puts = [r for r in sandbox.requests_log() if r["method"] == "PUT"]
    assert len(puts) == 1 and puts[0]["contacts"] == 25
    with db() as session:
        deliveries = session.query(Delivery).all()
        assert {d.status for d in deliveries} == {DeliveryStatus.SUCCEEDED}
        attempt = session.query(DeliveryAttempt).filter_by(kind="upsert").one()
        assert attempt.status_code == 202 and attempt.contacts_count == 25 and attempt.job_id


def test_a_repeated_message_id_is_stored_and_delivered_once(db, sandbox, integration):
    first = identify("dup@example.com", "u1", first_name="Dup")
    run_pipeline(db, sandbox, [first, first])
    run_pipeline(db, sandbox, [first])
    with db() as session:
        assert session.query(Event).count() == 1
        assert session.query(Delivery).count() == 1


def test_non_json_and_non_object_bodies_are_rejected_with_a_reason(db, sandbox, integration):
    with db.begin() as session:
        ids = store_events(session, [Incoming(b"{not json"), Incoming(b"[1,2]"), Incoming(b"\xff\xfe")])
    assert ids == []
    with db() as session:
        events = session.query(Event).order_by(Event.id).all()
        assert [e.status for e in events] == [EventStatus.REJECTED] * 3
        assert "not JSON" in events[0].reason
        assert "JSON list" in events[1].reason
        assert "not UTF-8" in events[2].reason
        assert events[0].raw_body == "{not json"


def test_a_revoked_key_holds_deliveries_until_the_key_is_updated(db, sandbox, integration):
    sandbox.revoke(sandbox.key)
    run_pipeline(db, sandbox, [identify("held@example.com", "u9")])
    with db() as session:
        assert session.get(Integration, integration.id).status == IntegrationStatus.AUTH_FAILED
        delivery = session.query(Delivery).one()
        assert delivery.status == DeliveryStatus.QUEUED and delivery.status_code == 401
    assert sandbox.contacts() == []

    sandbox.restore(sandbox.key)
    with db.begin() as session:
        session.get(Integration, integration.id).status = IntegrationStatus.ACTIVE
    flush_integration(db, integration.id, client_for(sandbox.key))
    assert [c["email"] for c in sandbox.contacts()] == ["held@example.com"]


def test_page_event_of_a_known_user_updates_the_last_page_url(db, sandbox, integration):
    run_pipeline(
        db,
        sandbox,
        [
            identify("page@example.com", "u5"),
            event("page", 1, userId="u5", properties={"url": "https://shop.example/a"}),
        ],
    )
    contact = sandbox.contact("page@example.com")
    assert contact["custom_fields"]["last_page_url"] == "https://shop.example/a"


def test_an_order_seen_twice_counts_once_in_lifetime_value(db, sandbox, integration):
    run_pipeline(db, sandbox, [identify("ltv@example.com", "u-ltv", 0) | {"anonymousId": "a-ltv"}])
    order = {"order_id": "o1", "revenue": "19.90"}
    run_pipeline(
        db,
        sandbox,
        [
            event("track", 4, anonymousId="a-ltv", event="Order Completed", properties=order),
            event("track", 4, userId="u-ltv", event="order_completed", properties=order),
            event("track", 6, userId="u-ltv", event="Order Completed", properties={"order_id": "o2", "total": 10}),
        ],
    )
    run_pipeline(db, sandbox, [event("track", 7, userId="u-ltv", event="Order Completed", properties=order)])
    assert sandbox.contact("ltv@example.com")["custom_fields"]["lifetime_value"] == 29.9


def test_stats_count_every_event_received_and_the_backlog(db, sandbox, integration):
    from workers.services.reports import stats

    run_pipeline(db, sandbox, [identify("s1@example.com", "s1"), identify("s2@example.com", "s2")])
    with db.begin() as session:
        store_events(session, [Incoming(json.dumps(identify("s3@example.com", "s3")).encode()), Incoming(b"{x")])
    with db() as session:
        counts = stats(session)
    assert counts["events"] == {
        "received": 4, "waiting": 1, "processed": 2, "rejected": 1, "failed": 0, "conflicting": 0,
    }  # fmt: skip
    assert counts["deliveries"]["succeeded"] == 2


def test_a_body_the_database_refuses_is_rejected_alone(db, sandbox, integration):
    good = identify("fine@example.com", "u-fine")
    huge_number = b'{"messageId": "m-huge", "type": "identify", "traits": {"n": 1e1000000}}'
    nan = b'{"messageId": "m-nan", "type": "page", "properties": {"x": NaN}}'
    with db.begin() as session:
        ids = store_events(session, [Incoming(json.dumps(good).encode()), Incoming(huge_number), Incoming(nan)])
    assert len(ids) == 1
    with db() as session:
        by_id = {e.message_id: e for e in session.query(Event)}
    assert by_id[good["messageId"]].status == EventStatus.RECEIVED
    assert "m-huge" not in by_id  # a refused body does not claim the producer's id: a corrected re-send may
    (huge,) = [e for e in by_id.values() if e.raw_body and "m-huge" in e.raw_body]
    assert huge.status == EventStatus.REJECTED and huge.message_id.startswith("sha256:")
    assert "refused" in huge.reason and "1e1000000" in huge.raw_body  # at the door (json_limits) or by the database
    (nan_event,) = [e for e in by_id.values() if e.raw_body and "NaN" in e.raw_body]  # unparsed: id from its hash
    assert nan_event.status == EventStatus.REJECTED and "NaN is not valid JSON" in nan_event.reason


def test_consent_withdrawal_suppresses_and_a_later_grant_unsuppresses(db, sandbox, settings):
    with db.begin() as session:
        request = InstallRequest(api_key=sandbox.key, options={"unsubscribe_group_id": sandbox.group_id})
        install(session, request, settings)
    granted = {"context": {"consent": {"marketing": True}}}
    denied = {"context": {"consent": {"marketing": False}}}
    run_pipeline(db, sandbox, [identify("c@example.com", "u-c", 0, first_name="C") | granted])
    run_pipeline(db, sandbox, [identify("c@example.com", "u-c", 1, first_name="Secret") | denied])
    run_pipeline(db, sandbox, [event("page", 2, userId="u-c", properties={"url": "https://x.example/"})])
    assert sandbox.suppressions()["groups"][str(sandbox.group_id)] == ["c@example.com"]
    assert sandbox.contact("c@example.com")["first_name"] == "C"  # nothing of the denied event was sent
    assert "last_page_url" not in sandbox.contact("c@example.com")["custom_fields"]  # withdrawn: not sent

    run_pipeline(db, sandbox, [identify("c@example.com", "u-c", 3, last_name="Back") | granted])
    assert sandbox.suppressions()["groups"][str(sandbox.group_id)] == []
    assert sandbox.contact("c@example.com")["last_name"] == "Back"
