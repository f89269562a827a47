"""Replay (issue 6): failed deliveries re-queued through the normal pipeline, orders never counted twice."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from models import Delivery, DeliveryStatus, Event, EventStatus, Integration
from tests.factories import IntegrationFactory, event, identify
from tests.helpers.delivery import deliveries, drain, flush, process, puts, settle_imports, status_counts
from workers.delivery.retry import RetryPolicy
from workers.processing.replay import ReplayFilter, replay_deliveries
from workers.services.deliveries import replay_by_filter, replay_delivery

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


@pytest.fixture
def failed_delivery(db_session) -> Delivery:
    """A failed delivery with its email and patch (replay queues it again as it is), committed in the savepoint."""
    integration = IntegrationFactory()
    db_session.add(integration)
    db_session.flush()
    stored = Event(message_id=f"m-{uuid.uuid4()}", type="identify", payload=identify("f@example.com", "u-f"),
                   status=EventStatus.PROCESSED)  # fmt: skip
    db_session.add(stored)
    db_session.flush()
    delivery = Delivery(
        event_id=stored.id,
        integration_id=integration.id,
        kind="identify",
        email="f@example.com",
        patch={"first_name": "F"},
        status=DeliveryStatus.FAILED,
        reason="SendGrid answered 400",
    )
    db_session.add(delivery)
    db_session.commit()
    return delivery


@pytest.fixture
def flush_triggers(monkeypatch) -> list[int]:
    """The integrations whose flush was sent to the pool (where the trigger is sent: the task's delay)."""
    from workers import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.flush_integration_task, "delay", sent.append)
    return sent


def test_the_replay_service_flushes_after_commit_and_never_after_rollback(db_session, failed_delivery, flush_triggers):
    flt = ReplayFilter(delivery_ids=[failed_delivery.id])
    assert replay_by_filter(db_session, flt, dry_run=True).matched == 1
    db_session.commit()
    assert flush_triggers == []  # a dry run changes nothing and asks for nothing

    assert replay_by_filter(db_session, flt).requeued == 1
    assert flush_triggers == []  # not before the commit
    db_session.rollback()
    assert flush_triggers == []  # nor after a rollback
    assert db_session.get(Delivery, failed_delivery.id).status == DeliveryStatus.FAILED

    assert replay_by_filter(db_session, flt).requeued == 1
    db_session.commit()
    assert flush_triggers == [failed_delivery.integration_id]
    assert db_session.get(Delivery, failed_delivery.id).status == DeliveryStatus.QUEUED


def test_replaying_one_delivery_flushes_after_commit(db_session, failed_delivery, flush_triggers):
    done = replay_delivery(db_session, failed_delivery.id)
    assert (done.found, done.status, done.result.requeued) == (True, "failed", 1)
    assert flush_triggers == []
    db_session.commit()
    assert flush_triggers == [failed_delivery.integration_id]
    again = replay_delivery(db_session, failed_delivery.id)
    assert (again.status, again.result) == ("queued", None)  # not replayable any more: nothing sent
    db_session.commit()
    assert flush_triggers == [failed_delivery.integration_id]
    assert not replay_delivery(db_session, -1).found
