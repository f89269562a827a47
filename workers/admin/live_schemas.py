"""Schemas of Live Events in the admin API (GET /v1/admin/deliveries): its filters, a row, a page."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from workers.admin.schemas import MAX_INT, moment, text
from workers.services.timeline import MAX_OFFSET
from workers.services.vocabulary import TIMELINE_STATUSES


class DeliveriesQuerySchema(Schema):
    status = fields.String(
        validate=validate.OneOf(TIMELINE_STATUSES),
        metadata={"description": "A delivery status, or `rejected`: events refused at processing (no delivery)."},
    )
    integration_id = fields.Integer(validate=validate.Range(min=1, max=MAX_INT))
    event_type = text(
        100,
        metadata={"description": "identify, page, product_viewed, order_completed, track (other track events)."},
    )
    q = text(254, metadata={"description": "A message id (exactly), otherwise an email, exact or a prefix."})
    since = moment("Decided at or after this time (ISO 8601; naive is UTC).")
    until = moment("Decided before this time (ISO 8601; naive is UTC).")
    cursor = text(120, metadata={"description": "`next_cursor` of the previous page: the rows after it."})
    page = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=100_000),
        metadata={"description": "From 1; skips (page - 1) * page_size rows, at most 100,000 (then use cursor)."},
    )
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))

    @validates_schema
    def shallow_enough(self, data: dict, **_kwargs) -> None:
        if (data.get("page", 1) - 1) * data.get("page_size", 50) > MAX_OFFSET:
            raise ValidationError(
                f"skips more than {MAX_OFFSET:,} rows: page on with cursor (next_cursor)", field_name="page"
            )


class DeliverySchema(Schema):
    source = fields.String(metadata={"description": "`delivery`, or `event` for an event rejected at processing."})
    id = fields.Integer(metadata={"description": "The delivery's id (the event's for a rejected event)."})
    event_id = fields.Integer()
    time = fields.DateTime(metadata={"description": "When it was decided (the order of the list)."})
    integration_id = fields.Integer(allow_none=True)
    integration = fields.String(allow_none=True, metadata={"description": "The integration's name."})
    event_type = fields.String(allow_none=True, metadata={"description": "A track event's kind when it has one."})
    kind = fields.String(allow_none=True)
    event_name = fields.String(allow_none=True, metadata={"description": "A track or page event's name."})
    message_id = fields.String()
    email = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "A delivery status, or `rejected`."})
    status_code = fields.Integer(allow_none=True, metadata={"description": "HTTP status of the last upsert."})
    attempts = fields.Integer()
    replays = fields.Integer()
    job_id = fields.String(allow_none=True)
    error = fields.String(allow_none=True, metadata={"description": "The reason (a rejected event's too)."})


class DeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema))
    page = fields.Integer()
    page_size = fields.Integer()
    has_more = fields.Boolean(metadata={"description": "Whether the next page has rows."})
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "Pass as `cursor` for the next page; null on the last one."}
    )
