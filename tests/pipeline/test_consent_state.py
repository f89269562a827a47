"""Consent on the state-based flush: what was skipped while consent was withdrawn goes out when it is granted
again, and an older withdrawal arriving late changes nothing (real PostgreSQL, the sandbox over HTTP)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from models import Delivery
from tests.factories import identify
from tests.pipeline.test_races import EMAIL, flush_all, order, page, process, status_counts, store

pytestmark = pytest.mark.integration


def consenting(event: dict, granted: bool) -> dict:
    return event | {"context": {"consent": {"marketing": granted}}}


def test_a_grant_after_a_withdrawal_sends_what_was_skipped_meanwhile(db, sandbox, integration):
    flush_all(db, sandbox, *process(db, store(db, identify(EMAIL, "u-1", 1, first_name="Ann"))))
    process(db, store(db, consenting(identify(EMAIL, "u-1", 2), False)))
    # While consent is withdrawn: these are decided (the contact's state moves on) but never sent.
    during = store(
        db,
        page("https://shop.example/while-withdrawn", 3, userId="u-1"),
        order("o-1", "12.50", 4, userId="u-1"),
    )
    flush_all(db, sandbox, *process(db, during))
    assert status_counts(db)["skipped"] >= 2
    assert "last_page_url" not in (sandbox.contact(EMAIL).get("custom_fields") or {})

    flush_all(db, sandbox, *process(db, store(db, consenting(identify(EMAIL, "u-1", 5), True))))
    custom = sandbox.contact(EMAIL)["custom_fields"]
    assert custom["last_page_url"] == "https://shop.example/while-withdrawn"
    assert Decimal(str(custom["lifetime_value"])) == Decimal("12.50")
    assert sandbox.contact(EMAIL)["first_name"] == "Ann"
    with db() as session:
        grant = session.scalars(select(Delivery).order_by(Delivery.id.desc())).first()
    assert grant.status == "succeeded"
    assert set(grant.patch) >= {"last_page_url", "lifetime_value", "first_name", "signal_user_id"}


def test_an_older_withdrawal_arriving_after_a_grant_changes_nothing(db, sandbox, integration):
    process(db, store(db, consenting(identify(EMAIL, "u-2", 10, first_name="Bea"), True)))
    process(db, store(db, consenting(identify(EMAIL, "u-2", 5), False)))  # older: the grant at 10 stands
    flush_all(db, sandbox, *process(db, store(db, page("https://shop.example/after", 11, userId="u-2"))))
    assert sandbox.contact(EMAIL)["custom_fields"]["last_page_url"] == "https://shop.example/after"
