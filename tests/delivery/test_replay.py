"""Replay (issue 6): failed deliveries re-queued through the normal pipeline, orders never counted twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models import DeliveryStatus, Integration
from tests.delivery.conftest import deliveries, drain, flush, process, puts, settle_imports, status_counts
from tests.factories import event, identify
from workers.delivery.retry import RetryPolicy
from workers.processing.replay import ReplayFilter, replay_deliveries

pytestmark = pytest.mark.integration

NO_WINDOW = RetryPolicy(base_seconds=0.01, cap_seconds=0.01, window=timedelta(seconds=-1))  # first failure is final


def order(minutes: int, order_id: str, revenue: str) -> dict:
    return event(
        "track", minutes, userId="u-r", event="Order Completed", properties={"order_id": order_id, "revenue": revenue}
    )


def replay(db, **kwargs):
    remap = kwargs.pop("remap", False)
    dry_run = kwargs.pop("dry_run", False)
    with db.begin() as session:
        return replay_deliveries(session, ReplayFilter(**kwargs), remap=remap, dry_run=dry_run)


def fail_everything_queued(db, sandbox, integration, client_for) -> None:
    sandbox.set_faults(error_rate=1, error_status=503, paths=["/v3/marketing/contacts"])
    flush(db, integration.id, client_for, NO_WINDOW)
    sandbox.clear_faults()


def test_failed_deliveries_replayed_arrive_once_with_exact_lifetime_value(db, sandbox, integration, client_for):
    process(db, [identify("r@example.com", "u-r", 0)])
    drain(db, integration.id, client_for)
    process(db, [order(1, "o1", "10.00"), order(2, "o2", "5.50"), order(2, "o1", "10.00")])
    fail_everything_queued(db, sandbox, integration, client_for)
    assert status_counts(db) == {"sent": 1, "failed": 2, "skipped": 1}

    assert replay(db, dry_run=True).matched == 2
    assert status_counts(db)["failed"] == 2
    result = replay(db)
    assert (result.matched, result.requeued, result.integrations) == (2, 2, {integration.id})
    drain(db, integration.id, client_for)
    settle_imports(db, sandbox, client_for)

    assert sandbox.contact("r@example.com")["custom_fields"]["lifetime_value"] == 15.5
    replayed = [d for d in deliveries(db) if d.replay_count]
    assert len(replayed) == 2 and {d.status for d in replayed} == {DeliveryStatus.SUCCEEDED}
    assert replay(db).matched == 0  # nothing failed is left: a second replay changes nothing

    # Replaying the skipped duplicate re-maps it: still no second count of o1.
    assert replay(db, status="skipped").matched == 1
    drain(db, integration.id, client_for)
    settle_imports(db, sandbox, client_for)
    assert sandbox.contact("r@example.com")["custom_fields"]["lifetime_value"] == 15.5


def test_a_replay_never_overwrites_what_a_newer_event_set(db, sandbox, integration, client_for):
    process(db, [identify("n@example.com", "u-n", 0, first_name="Old", last_name="Lee")])
    fail_everything_queued(db, sandbox, integration, client_for)
    process(db, [identify("n@example.com", "u-n", 5, first_name="New")])
    drain(db, integration.id, client_for)
    replay(db)
    drain(db, integration.id, client_for)
    settle_imports(db, sandbox, client_for)
    contact = sandbox.contact("n@example.com")
    assert (contact["first_name"], contact["last_name"]) == ("New", "Lee")


def test_remap_applies_a_field_mapping_fixed_after_the_failure(db, sandbox, integration, client_for):
    process(db, [identify("m@example.com", "u-m", 0, plan="gold")])
    fail_everything_queued(db, sandbox, integration, client_for)
    with db.begin() as session:
        stored = session.get(Integration, integration.id)
        stored.config = {**stored.config, "trait_fields": {"plan": "plan_name"}}
    assert replay(db, remap=True, message_ids=["not-this-one"]).matched == 0
    assert replay(db, remap=True).requeued == 1
    drain(db, integration.id, client_for)
    settle_imports(db, sandbox, client_for)
    assert sandbox.contact("m@example.com")["custom_fields"]["plan_name"] == "gold"
    assert len(puts(sandbox)) == 2  # the failed one, then the replay
