"""Admin routes of privacy: request an erasure (POST /v1/admin/privacy/erasures) and read it (GET .../<id>)."""

from __future__ import annotations

import threading

from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models import Erasure
from workers.admin.blueprint import blp, documented_errors, state, transaction


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
    from workers.privacy.erasure import ErasureError, Subject
    from workers.privacy.erasure import request_erasure as create
    from workers.privacy.report import erasure_summary

    try:
        subject = Subject.of(body.get("email"), body.get("user_id"))
    except ErasureError as e:
        abort(400, message=str(e))
    with transaction() as session:
        erasure = create(session, state().settings, subject)
        summary = erasure_summary(erasure)
        _run_after_commit(session, erasure.id)
    return summary


@blp.route("/admin/privacy/erasures/<int:erasure_id>", methods=["GET"])
@blp.response(200, ErasureSchema)
@documented_errors("NOT_FOUND")
def get_erasure(erasure_id: int) -> dict:
    """An erasure: its status, what was removed per table, and per integration what SendGrid did"""
    from workers.privacy.report import erasure_summary

    with transaction() as session:
        erasure = session.get(Erasure, erasure_id)
        if erasure is None:
            abort(404, message=f"no erasure {erasure_id}")
        return erasure_summary(erasure)


def _run_after_commit(session, erasure_id: int) -> None:  # noqa: ANN001 - a Session
    """Workers run it (signal.run_erasure); without a broker a thread of this process does, with this API's
    database, so the request returns at once."""
    from workers.celery import app
    from workers.tasks import after_commit, trigger_erasure

    if not app.conf.task_always_eager:
        after_commit(session, lambda: trigger_erasure(erasure_id))
        return
    api_state = state()

    def run() -> None:
        from workers.integrations.status import client_for
        from workers.privacy.remote import drive_erasure

        drive_erasure(
            api_state.sessions, erasure_id, lambda i: client_for(i, api_state.settings), api_state.settings, 600
        )

    after_commit(session, lambda: threading.Thread(target=run, name=f"erasure-{erasure_id}", daemon=True).start())
