"""Admin routes of deliveries: Live Events (GET /v1/admin/deliveries) and replay (POST .../deliveries/replay)."""

from __future__ import annotations

import logging

from workers.admin import schemas
from workers.admin.blueprint import blp, documented_errors, transaction

log = logging.getLogger(__name__)


@blp.route("/admin/deliveries", methods=["GET"])
@blp.arguments(schemas.DeliveriesQuerySchema, location="query")
@blp.response(200, schemas.DeliveryPageSchema)
@documented_errors()
def list_deliveries(query: dict) -> dict:
    """Live Events: deliveries, newest first, filtered and paginated"""
    from workers.admin.reports import live_events

    page, page_size = query["page"], query["page_size"]
    with transaction() as session:
        rows = live_events(
            session,
            status=query.get("status"),
            limit=page_size + 1,  # one more tells whether there is a next page
            offset=(page - 1) * page_size,
            integration_id=query.get("integration_id"),
            event_type=query.get("event_type"),
        )
    return {"items": rows[:page_size], "page": page, "page_size": page_size, "has_more": len(rows) > page_size}


@blp.route("/admin/deliveries/replay", methods=["POST"])
@blp.arguments(schemas.ReplaySchema)
@blp.response(200, schemas.ReplayResultSchema)
@documented_errors()
def replay(body: dict) -> dict:
    """Replay deliveries (failed by default): queue them again, optionally re-mapping their events

    With dry_run, only count what would be replayed. After a replay, a flush of each integration concerned is
    triggered (the periodic sweep flushes them anyway if that trigger cannot be sent).
    """
    from workers.processing.replay import ReplayFilter, replay_deliveries
    from workers.tasks import after_commit, trigger_flush

    flt = ReplayFilter(
        status=body["status"],
        since=body.get("since"),
        until=body.get("until"),
        integration_id=body.get("integration_id"),
        event_type=body.get("event_type"),
        message_ids=body["message_ids"],
    )
    with transaction() as session:
        result = replay_deliveries(session, flt, remap=body["remap"], dry_run=body["dry_run"])
        if body["dry_run"]:
            session.rollback()  # release the row locks; a dry run changes nothing
        else:
            after_commit(session, lambda: trigger_flush(result.integrations))
    return {"matched": result.matched, "requeued": result.requeued, "dry_run": body["dry_run"]}
