"""Admin routes of privacy: request an erasure (POST /v1/admin/privacy/erasures) and read it (GET .../<id>),
through workers.services.privacy."""

from __future__ import annotations

from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from workers.admin.blueprint import blp, documented_errors, state, transaction
from workers.services import privacy


class ErasureRequestSchema(Schema):
    class Meta:
        unknown = "raise"

    email = fields.String(validate=validate.Length(min=3, max=254), metadata={"description": "the person's email"})
    user_id = fields.String(
        validate=validate.Length(min=1, max=200), metadata={"description": "a userId, resolved through identity links"}
    )

    @validates_schema
    def exactly_one(self, data: dict, **_kwargs) -> None:
        if bool(data.get("email")) == bool(data.get("user_id")):
            raise ValidationError("give exactly one of email or user_id", field_name="email")


class SendGridOutcomeSchema(Schema):
    integration_id = fields.Integer(required=True)
    step = fields.String(allow_none=True, metadata={"description": "where it stands: search, poll, ..., done"})
    outcome = fields.String(allow_none=True, metadata={"description": "deleted, not found, refused by SendGrid ..."})
    found = fields.Integer(required=True)
    deleted = fields.Integer(required=True)
    job_ids = fields.List(fields.String(), required=True)
    error = fields.String(allow_none=True)


class ErasureSchema(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "pending, local_done, completed or failed"})
    subject = fields.String(required=True, metadata={"description": "email or user_id: what the request named"})
    subject_digest = fields.String(required=True, metadata={"description": "keyed hash (HMAC-SHA256) of it"})
    requested_at = fields.DateTime(required=True)
    local_done_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    removed = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    sendgrid = fields.List(fields.Nested(SendGridOutcomeSchema), required=True)
    attempts = fields.Integer(required=True)
    error = fields.String(allow_none=True)


@blp.route("/admin/privacy/erasures", methods=["POST"])
@blp.arguments(ErasureRequestSchema)
@blp.response(202, ErasureSchema)
@documented_errors()
def request_erasure(body: dict) -> dict:
    """Forget a person: here and in every integration's SendGrid account (asynchronous; read its status)"""
    try:
        person = privacy.subject(body.get("email"), body.get("user_id"))
    except privacy.ErasureError as e:
        abort(400, message=str(e))
    web = state()
    with transaction() as session:
        # Without a broker a thread of this process runs it, with this API's database: the request returns at once.
        return privacy.request_erasure(
            session, web.settings, person, run_here=privacy.in_background(web.sessions, web.settings)
        )


@blp.route("/admin/privacy/erasures/<int:erasure_id>", methods=["GET"])
@blp.response(200, ErasureSchema)
@documented_errors("NOT_FOUND")
def get_erasure(erasure_id: int) -> dict:
    """An erasure: its status, what was removed per table, and per integration what SendGrid did"""
    with transaction() as session:
        summary = privacy.summary(session, erasure_id)
    if summary is None:
        abort(404, message=f"no erasure {erasure_id}")
    return summary
