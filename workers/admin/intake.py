"""Event intake over HTTP (POST /v1/events): validate a body of events, publish them to datafly.events
(workers.services.intake)."""

from __future__ import annotations

from flask import request
from flask_smorest import abort

from workers.admin import schemas
from workers.admin.blueprint import MAX_EVENTS_BODY, blp, documented_errors, state
from workers.services.intake import MAX_BATCH, BrokerUnavailable, InvalidEvents, parse_events


@blp.route("/events", methods=["POST"])
@blp.doc(
    requestBody={
        "required": True,
        "description": f'One event, or {{"batch": [...]}} of at most {MAX_BATCH} events; '
        f"at most {MAX_EVENTS_BODY} bytes.",
        "content": {"application/json": {"schema": schemas.EVENTS_BODY_JSON_SCHEMA}},
    }
)
@blp.response(202, schemas.AcceptedSchema)
@documented_errors("REQUEST_ENTITY_TOO_LARGE")
def post_events() -> dict:
    """Publish events to the exchange datafly.events

    Answered 202 only after the broker confirmed every event. All or nothing: when any event of a batch is
    invalid (not an object, no non-empty string messageId or type), none is published and the 400 names
    each invalid one. Numbers are checked as ingest checks them: NaN and Infinity, integers over 40 digits, and
    numbers beyond a 64-bit float (1e309, 0.1e99999, 1e-400) are refused with the rule they break. A 503
    means the broker did not confirm; re-sending is safe (a messageId is stored once).
    """
    try:
        events = parse_events(request.get_data(cache=False))
    except InvalidEvents as e:
        abort(400, message=str(e), errors=e.errors)
    try:
        return {"accepted": state().publisher.publish(events)}
    except BrokerUnavailable as e:
        abort(503, message=str(e))
