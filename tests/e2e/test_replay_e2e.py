"""Replay end to end: deliveries failed by a long SendGrid outage, replayed with the CLI, arrive once."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from models import Delivery, DeliveryStatus
from tests.factories import event, identify
from tests.fixtures.processes import cli, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def counts(db) -> dict[str, int]:
    with db() as session:
        return {str(s): n for s, n in session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))}


def test_failed_deliveries_replayed_from_the_cli_arrive_once(db, sandbox, service_env, processes):
    env = {**service_env, "SIGNAL_RETRY_WINDOW_HOURS": "0.0005"}  # ~2 s: the outage outlasts the window
    processes.env = env
    assert cli(env, "install", "--api-key", sandbox.key, "--default-list-id", sandbox.list_id).returncode == 0
    sandbox.set_faults(error_rate=1, error_status=503, paths=["/v3/marketing/contacts"])
    orders = [
        event(
            "track",
            n,
            userId="u-rep",
            event="Order Completed",
            properties={"order_id": f"o{n % 3}", "revenue": "10.00"},
        )
        for n in range(1, 7)
    ]  # o0, o1, o2 twice each
    lines = [json.dumps(identify("rep@example.com", "u-rep", 0, first_name="Rep"))] + [json.dumps(o) for o in orders]
    assert cli(env, "publish", "-", input="\n".join(lines)).returncode == 0
    processes.ingest()
    processes.worker()
    wait_for(lambda: counts(db).get("failed", 0) >= 4, timeout=60, what="deliveries failed after the window")
    assert sandbox.contacts() == []

    sandbox.clear_faults()
    dry = cli(env, "replay", "--dry-run")
    assert dry.returncode == 0 and "dry run" in dry.stdout
    done = cli(env, "replay", "--status", "failed")
    assert done.returncode == 0, done.stderr
    assert "re-queued" in done.stdout
    unsettled = ("failed", "queued", "sent")
    wait_for(lambda: not any(counts(db).get(s) for s in unsettled), timeout=60, what="replayed deliveries settled")

    contact = sandbox.contact("rep@example.com")
    assert contact["first_name"] == "Rep"
    assert contact["custom_fields"]["lifetime_value"] == 30.0  # three distinct orders, each counted once
    again = cli(env, "replay")
    assert "matched 0 deliveries" in again.stdout
    with db() as session:
        replayed = session.scalars(select(Delivery).where(Delivery.replay_count > 0)).all()
    assert replayed and all(d.status == DeliveryStatus.SUCCEEDED and d.replay_count == 1 for d in replayed)
