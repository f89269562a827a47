"""Time bounds (issue 21): an event dated more than SIGNAL_MAX_CLOCK_SKEW_HOURS after its arrival takes its
arrival as its time, so a timestamp in the future cannot outrank events sent after it; the claim is recorded on
the event. Through the real processing code, real PostgreSQL and the sandbox over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import Contact, Delivery, Event, Identity, Order
from models.base import utcnow
from tests.factories import identify
from tests.helpers.console import console_app, signed_in_client
from tests.pipeline.test_races import flush_all, order, page, process, store
from workers.integrations.install import InstallRequest, install

pytestmark = pytest.mark.integration

EMAIL = "ada@example.com"
FAR = "2999-01-01T00:00:00Z"
FAR_AT = datetime(2999, 1, 1, tzinfo=UTC)


def dated(event: dict, stamp: str | None = None, ahead: timedelta = timedelta()) -> dict:
    """The event with the timestamp given, else the present (plus `ahead`), as a producer stamps it."""
    stamp = stamp or (utcnow() + ahead).isoformat().replace("+00:00", "Z")
    return event | {"timestamp": stamp}


def consenting(event: dict, granted: bool) -> dict:
    return event | {"context": {"consent": {"marketing": granted}}}


def run(db, sandbox, *events: dict) -> list[int]:
    """Store, process and flush (when something was queued), one batch."""
    ids = store(db, *events)
    for integration_id in process(db, ids):
        flush_all(db, sandbox, integration_id)
    return ids


def contact_row(db, email: str = EMAIL) -> Contact:
    with db() as session:
        return session.scalars(select(Contact).where(Contact.email == email)).one()


def test_an_identify_dated_2999_does_not_outrank_a_real_identify_sent_after_it(db, sandbox, integration):
    run(db, sandbox, dated(identify(EMAIL, "u-1", first_name="HACKED"), FAR))
    assert sandbox.contact(EMAIL)["first_name"] == "HACKED"  # alone, it is still delivered
    run(db, sandbox, dated(identify(EMAIL, "u-1", first_name="Ada")))

    assert contact_row(db).fields["first_name"][0] == "Ada"
    assert sandbox.contact(EMAIL)["first_name"] == "Ada"


def test_an_identity_link_dated_2999_does_not_outrank_a_real_identify(db, sandbox, integration):
    run(db, sandbox, dated(identify("mallory@example.com", "u-1", first_name="Mallory"), FAR))
    run(db, sandbox, dated(identify(EMAIL, "u-1", first_name="Ada")))  # the real user logs in after
    run(db, sandbox, dated(page("https://shop.example/mine", 0, userId="u-1")))

    with db() as session:
        assert session.scalars(select(Identity.email).where(Identity.value == "u-1")).one() == EMAIL
    assert sandbox.contact(EMAIL)["custom_fields"]["last_page_url"] == "https://shop.example/mine"
    assert "last_page_url" not in (sandbox.contact("mallory@example.com").get("custom_fields") or {})


def test_an_order_dated_2999_counts_at_its_arrival(db, sandbox, integration):
    run(db, sandbox, dated(identify(EMAIL, "u-1", first_name="Ada")))
    (order_id,) = run(db, sandbox, dated(order("o-1", "12.50", 0, userId="u-1"), FAR))

    with db() as session:
        received_at = session.get(Event, order_id).received_at
        ordered_at = session.scalars(select(Order.ordered_at).where(Order.order_id == "o-1")).one()
    assert ordered_at == received_at
    today = received_at.astimezone(UTC).strftime("%m/%d/%Y")
    assert contact_row(db).fields["last_purchase_at"][0] == today
    sent = sandbox.contact(EMAIL)["custom_fields"]["last_purchase_at"]  # the sandbox keeps dates in ISO 8601
    assert sent.startswith(received_at.astimezone(UTC).date().isoformat())  # not 2999-01-01


def test_a_grant_dated_2999_does_not_outrank_a_real_withdrawal(db, sandbox, settings):
    with db.begin() as session:
        request = InstallRequest(api_key=sandbox.key, options={"unsubscribe_group_id": sandbox.group_id})
        install(session, request, settings)
    run(db, sandbox, consenting(dated(identify(EMAIL, "u-1", first_name="Ann"), FAR), True))
    run(db, sandbox, consenting(dated(identify(EMAIL, "u-1")), False))
    run(db, sandbox, dated(page("https://shop.example/after-withdrawal", 0, userId="u-1")))

    row = contact_row(db)
    assert (row.consent, row.suppressed) == (False, True)
    assert sandbox.suppressions()["groups"][str(sandbox.group_id)] == [EMAIL]
    assert "last_page_url" not in (sandbox.contact(EMAIL).get("custom_fields") or {})  # withdrawn: not sent
    with db() as session:
        page_delivery = session.scalars(select(Delivery).where(Delivery.kind == "page")).one()
    assert page_delivery.status == "skipped"


def test_a_timestamp_within_the_skew_is_untouched(db, sandbox, integration):
    (ahead_id,) = run(db, sandbox, dated(identify(EMAIL, "u-1", first_name="Ahead"), ahead=timedelta(hours=23)))
    run(db, sandbox, dated(identify(EMAIL, "u-1", first_name="Now")))

    with db() as session:
        ahead = session.get(Event, ahead_id)
        event_at = session.scalars(select(Delivery.event_at).where(Delivery.event_id == ahead_id)).one()
    assert ahead.clock_clamped_from is None
    assert event_at - ahead.received_at > timedelta(hours=22)  # its own timestamp, kept
    assert contact_row(db).fields["first_name"][0] == "Ahead"  # 23 h ahead is still newer than now
    assert sandbox.contact(EMAIL)["first_name"] == "Ahead"


def test_a_smaller_skew_setting_clamps_sooner(db, sandbox, integration, monkeypatch):
    monkeypatch.setenv("SIGNAL_MAX_CLOCK_SKEW_HOURS", "1")
    (ahead_id,) = run(db, sandbox, dated(identify(EMAIL, "u-1", first_name="Ahead"), ahead=timedelta(hours=2)))
    run(db, sandbox, dated(identify(EMAIL, "u-1", first_name="Now")))

    with db() as session:
        assert session.get(Event, ahead_id).clock_clamped_from is not None
    assert sandbox.contact(EMAIL)["first_name"] == "Now"


def test_the_clamp_is_recorded_on_the_event_and_shown(db, sandbox, integration, api, pg_url):
    hacked_id, real_id = run(
        db, sandbox, dated(identify(EMAIL, "u-1", first_name="HACKED"), FAR), dated(identify(EMAIL, "u-1"))
    )
    with db() as session:
        hacked, real = session.get(Event, hacked_id), session.get(Event, real_id)
        event_at = session.scalars(select(Delivery.event_at).where(Delivery.event_id == hacked_id)).one()
    assert hacked.clock_clamped_from == FAR_AT
    assert event_at == hacked.received_at  # the delivery records the time its clocks used
    assert real.clock_clamped_from is None

    listed = {row["id"]: row for row in api.get("/v1/admin/events", params={"status": "processed"}).json()}
    assert datetime.fromisoformat(listed[hacked_id]["clock_clamped_from"]) == FAR_AT
    assert listed[real_id]["clock_clamped_from"] is None

    console = signed_in_client(console_app(db, pg_url))
    shown = console.get(f"/live-events/{hacked_id}").text
    assert 'id="event-clock-clamped"' in shown and "2999-01-01 00:00:00 UTC" in shown
    assert 'id="event-clock-clamped"' not in console.get(f"/live-events/{real_id}").text
