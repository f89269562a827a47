"""Marshmallow schemas of the admin HTTP API's request and response bodies (the install body, shared with the
console's form, is `workers.services.install_body`).

Every string that reaches PostgreSQL or an HTTP header is bounded and free of control characters and lone
surrogates: PostgreSQL rejects NUL, and a key that cannot be encoded as a header must be a 400, not a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models import EventStatus
from workers.services.install_body import (
    InstallSchema,  # noqa: F401 - the API's install body, shared with the console
    StrictSchema,
    api_key_field,
    printable,
    text,
)
from workers.services.intake import MAX_BATCH
from workers.services.vocabulary import REPLAYABLE

MAX_INT = 2**63 - 1  # ids are BIGINT
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


class KeySchema(StrictSchema):
    """POST /v1/admin/integrations/<id>/key: the new key (what `signal-sendgrid integrations update-key` takes)."""

    api_key = api_key_field()


class IntegrationSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    variant = fields.String()
    delivery_mode = fields.String()
    status = fields.String(
        metadata={"description": "active, paused, auth_failed, disabled, key_unreadable or config_invalid"}
    )
    status_reason = fields.String(allow_none=True, metadata={"description": "What to do when not active."})
    api_key = fields.String(metadata={"description": "The key masked (SG.…wxyz); never the key."})
    api_url = fields.String()
    default_list_id = fields.String(allow_none=True)
    field_ids = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "name -> id"})
    created_at = fields.DateTime()


class IntegrationUpdateSchema(StrictSchema):
    """PATCH /v1/admin/integrations/<id>: what `signal-sendgrid integrations update` changes."""

    default_list_id = fields.String(
        allow_none=True,
        validate=[validate.Length(max=64), printable],
        metadata={"description": 'New default list (checked against SendGrid); null or "" drops it.'},
    )
    trait_fields = fields.Dict(
        data_key="fields",
        keys=text(100),
        values=fields.String(),
        validate=validate.Length(max=100, error="at most {max} custom field mappings per integration"),
        metadata={"description": "Replaces the trait -> custom field mappings (fields created when missing)."},
    )
    force = fields.Boolean(load_default=False, metadata={"description": "Accept a list another integration uses."})


class RemovedCountsSchema(Schema):
    deliveries = fields.Integer()
    attempts = fields.Integer()
    import_jobs = fields.Integer()
    contacts = fields.Integer(metadata={"description": "Contact states kept for this integration's account."})
    orders = fields.Integer()


class DeletedSchema(Schema):
    id = fields.Integer()
    removed = fields.Nested(RemovedCountsSchema, metadata={"description": "Rows deleted with the integration."})
    kept = fields.String(metadata={"description": "What stays: events, identity links, SendGrid's own contacts."})


class InstalledSchema(IntegrationSchema):
    created_fields = fields.List(fields.String(), metadata={"description": "Custom fields created by the install."})
    warnings = fields.List(fields.String())


class EventsQuerySchema(Schema):
    status = fields.String(load_default="rejected", validate=validate.OneOf([s.value for s in EventStatus]))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    before_id = fields.Integer(validate=validate.Range(min=1, max=MAX_INT), metadata={"description": "Page on."})


class EventListSchema(Schema):
    id = fields.Integer()
    message_id = fields.String()
    type = fields.String(allow_none=True)
    received_at = fields.DateTime()
    status = fields.String()
    reason = fields.String(allow_none=True, metadata={"description": "Why it was rejected (or failed)."})
    process_attempts = fields.Integer()
    body = fields.String(metadata={"description": "The start of the stored event (300 characters)."})
    clock_clamped_from = fields.DateTime(
        allow_none=True,
        metadata={"description": "The timestamp the event claimed, when it was more than SIGNAL_MAX_CLOCK_SKEW_HOURS "
                  "after its arrival: its clocks used received_at instead."},
    )  # fmt: skip


def moment(description: str) -> fields.AwareDateTime:
    # Naive times are UTC; the range keeps every value convertible and storable.
    return fields.AwareDateTime(
        default_timezone=UTC,
        validate=validate.Range(min=EARLIEST, max=LATEST),
        metadata={"description": description},
    )


class ReplaySchema(StrictSchema):
    status = fields.String(load_default="failed", validate=validate.OneOf(REPLAYABLE))
    since = moment("Only deliveries last changed at or after this time.")
    until = moment("Only deliveries last changed at or before this time.")
    integration_id = fields.Integer(validate=validate.Range(min=1, max=MAX_INT))
    event_type = text(100)
    message_ids = fields.List(text(200), load_default=list, validate=validate.Length(max=10_000))
    remap = fields.Boolean(load_default=False, metadata={"description": "Map the stored event again first."})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "Count only; change nothing."})

    @validates_schema
    def since_before_until(self, data: dict, **_kwargs) -> None:
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise ValidationError("must not be before since", field_name="until")


class ReplayResultSchema(Schema):
    matched = fields.Integer()
    requeued = fields.Integer()
    dry_run = fields.Boolean()


class StatsSchema(Schema):
    events = fields.Dict(keys=fields.String(), values=fields.Integer())
    deliveries = fields.Dict(keys=fields.String(), values=fields.Integer())


class AcceptedSchema(Schema):
    accepted = fields.Integer(metadata={"description": "Events the broker confirmed."})


EVENT_JSON_SCHEMA = {
    "type": "object",
    "required": ["messageId", "type"],
    "properties": {
        "messageId": {"type": "string", "minLength": 1, "maxLength": 200},
        "type": {"type": "string", "minLength": 1, "maxLength": 100},
    },
    "additionalProperties": True,
    "description": "A Datafly event (see the wire contract); published as is.",
}
EVENTS_BODY_JSON_SCHEMA = {
    "anyOf": [
        {"$ref": "#/components/schemas/Event"},
        {
            "type": "object",
            "required": ["batch"],
            "properties": {
                "batch": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH,
                    "items": {"$ref": "#/components/schemas/Event"},
                }
            },
            "additionalProperties": False,
        },
    ]
}
