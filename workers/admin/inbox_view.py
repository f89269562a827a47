"""Admin route of the event inbox (GET /v1/admin/events): events by status with their reasons, newest first
(workers.services.events, which `signal-sendgrid events` reads too)."""

from __future__ import annotations

from models import EventStatus
from workers.admin import schemas
from workers.admin.blueprint import blp, documented_errors, transaction
from workers.services.events import list_events


@blp.route("/admin/events", methods=["GET"])
@blp.arguments(schemas.EventsQuerySchema, location="query")
@blp.response(200, schemas.EventListSchema(many=True))
@documented_errors()
def get_events(query: dict) -> list[dict]:
    """Events by status with their reasons (rejected by default)

    Newest first. A `rejected` event was bad input (the reason says what was wrong: a missing field, a value
    of the wrong type, a body that is not JSON); `failed` ones crashed processing repeatedly (poison). Page with
    `before_id` = the last id of the previous page.
    """
    with transaction() as session:
        rows = list_events(session, EventStatus(query["status"]), query["limit"], query.get("before_id"))
        return [row.__dict__ for row in rows]
