"""Admin routes of deliveries: Live Events (GET /v1/admin/deliveries) and replay (POST .../deliveries/replay)."""

from __future__ import annotations

from flask_smorest import abort

from workers.admin import live_schemas, schemas
from workers.admin.blueprint import blp, documented_errors, transaction
from workers.services.deliveries import ReplayFilter, replay_by_filter
from workers.services.timeline import Cursor, FilterError, TimelineFilter, TimelineRow, timeline


@blp.route("/admin/deliveries", methods=["GET"])
@blp.arguments(live_schemas.DeliveriesQuerySchema, location="query")
@blp.response(200, live_schemas.DeliveryPageSchema)
@documented_errors()
def list_deliveries(query: dict) -> dict:
    """Live Events: deliveries and rejected events, newest first, filtered, a page at a time

    The console's query (workers.services.timeline): ordered by the time each row was decided, so a row keeps its
    place when its status changes. Page on with `cursor` (the previous page's `next_cursor`): no row twice, none
    skipped while new ones arrive. `page` skips rows on the same order (at most 100,000).
    """
    page, page_size = query["page"], query["page_size"]
    try:
        flt = TimelineFilter(
            status=query.get("status"),
            type=query.get("event_type"),
            integration_id=query.get("integration_id"),
            since=query.get("since"),
            until=query.get("until"),
            q=query.get("q"),
        )
        cursor = Cursor.decode(query["cursor"]) if query.get("cursor") else None
    except FilterError as e:
        abort(400, message=str(e), errors={"query": {"cursor": [str(e)]}})
    with transaction() as session:
        result = timeline(session, flt, cursor, limit=page_size, offset=(page - 1) * page_size)
    return {
        "items": [live_event(row) for row in result.rows],
        "page": page,
        "page_size": page_size,
        "has_more": result.next is not None,
        "next_cursor": result.next.encode() if result.next else None,
    }


def live_event(row: TimelineRow) -> dict:
    """A row as the API has always shown it: `event_type` is a track event's kind when it has one."""
    return {
        **row.__dict__,
        "event_type": row.kind if row.event_type == "track" and row.kind else row.event_type,
    }


@blp.route("/admin/deliveries/replay", methods=["POST"])
@blp.arguments(schemas.ReplaySchema)
@blp.response(200, schemas.ReplayResultSchema)
@documented_errors()
def replay(body: dict) -> dict:
    """Replay deliveries (failed by default): queue them again, optionally re-mapping their events

    With dry_run, only count what would be replayed. After a replay, a flush of each integration concerned is
    triggered (the periodic sweep flushes them anyway if that trigger cannot be sent).
    """
    flt = ReplayFilter(
        status=body["status"],
        since=body.get("since"),
        until=body.get("until"),
        integration_id=body.get("integration_id"),
        event_type=body.get("event_type"),
        message_ids=body["message_ids"],
    )
    with transaction() as session:
        result = replay_by_filter(session, flt, remap=body["remap"], dry_run=body["dry_run"])
    return {"matched": result.matched, "requeued": result.requeued, "dry_run": body["dry_run"]}
