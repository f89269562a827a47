"""The ``/v3`` routes: what SendGrid answers, with its status codes and error bodies.

Authentication and rate limiting run before these views (see :mod:`sandbox.app`); each view
checks its scopes and hands off to :class:`sandbox.state.SandboxState`.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, g, request

from sandbox.deletion import MAX_DELETE_IDS
from sandbox.fields import FieldError
from sandbox.upsert import Rejection, check_size
from sandbox.web import errors_response, get_state, json_response, requires

api = Blueprint("api", __name__, url_prefix="/v3")

MC_READ = "marketing_campaigns.read"
MAX_SEARCH_EMAILS = 100
IDENTIFIER_TYPES = ("email", "phone_number_id", "external_id", "anonymous_id")


@api.get("/scopes")
def scopes() -> Response:
    # Any valid key may list its own scopes (whether SendGrid requires a scope for it is unconfirmed).
    return json_response({"scopes": get_state().scopes_of(g.key)})


@api.get("/marketing/field_definitions")
@requires(MC_READ)
def field_definitions() -> Response:
    return json_response(get_state().field_definitions())


@api.post("/marketing/field_definitions")
@requires("marketing_campaigns.create")
def create_field() -> Response:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return errors_response(400, "request body must be a JSON object")
    try:
        field = get_state().create_field(body.get("name"), body.get("field_type"))
    except FieldError as exc:
        return errors_response(400, exc.message, field=exc.field)
    return json_response(field.to_dict(), 200)


@api.put("/marketing/contacts")
@requires("marketing_campaigns.create", "marketing_campaigns.update")
def upsert_contacts() -> Response:
    raw = request.get_data(cache=False)
    g.body_bytes = len(raw)
    if rejection := check_size(len(raw)):
        return _rejection_response(rejection)
    try:
        body = json.loads(raw)
    except ValueError:
        return errors_response(400, "request body is not valid JSON")
    if isinstance(body, dict) and isinstance(body.get("contacts"), list):
        g.contact_count = len(body["contacts"])
    outcome = get_state().submit_upsert(body, request.host_url.rstrip("/"))
    if isinstance(outcome, Rejection):
        return _rejection_response(outcome)
    return json_response({"job_id": outcome.id}, 202)


@api.get("/marketing/contacts/imports/<job_id>")
@requires(MC_READ)
def import_status(job_id: str) -> Response:
    body = get_state().job_json(job_id)
    if body is None:
        return errors_response(404, "job not found", field="id")
    return json_response(body)


@api.post("/marketing/contacts/search/emails")
@requires(MC_READ)
def search_emails() -> Response:
    body = request.get_json(force=True, silent=True)
    emails = body.get("emails") if isinstance(body, dict) else None
    if not isinstance(emails, list) or not emails or not all(isinstance(e, str) for e in emails):
        return errors_response(400, "emails must be a list of 1 to 100 emails", field="emails")
    if len(emails) > MAX_SEARCH_EMAILS:
        return errors_response(400, f"at most {MAX_SEARCH_EMAILS} emails per request", field="emails")
    result = get_state().search_emails(emails)
    if all("error" in item for item in result.values()):
        return errors_response(404, "no contacts found")
    return json_response({"result": result})


@api.post("/marketing/contacts/search/identifiers/<identifier_type>")
@requires(MC_READ)
def search_identifiers(identifier_type: str) -> Response:
    # SendGrid: {"identifiers": [...]} of one type (email, phone_number_id, external_id, anonymous_id).
    if identifier_type not in IDENTIFIER_TYPES:
        return errors_response(400, f"identifier type must be one of {', '.join(IDENTIFIER_TYPES)}")
    body = request.get_json(force=True, silent=True)
    values = body.get("identifiers") if isinstance(body, dict) else None
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        return errors_response(400, "identifiers must be a list of 1 to 100 values", field="identifiers")
    if len(values) > MAX_SEARCH_EMAILS:
        return errors_response(400, f"at most {MAX_SEARCH_EMAILS} identifiers per request", field="identifiers")
    result = get_state().search_identifier(identifier_type, values)
    if all("error" in item for item in result.values()):
        return errors_response(404, "no contacts found")
    return json_response({"result": result})


@api.delete("/marketing/contacts")
@requires("marketing_campaigns.delete")
def delete_contacts() -> Response:
    if request.args.get("delete_all_contacts") == "true":
        return errors_response(400, "the sandbox does not delete all contacts", field="delete_all_contacts")
    ids = [i.strip() for i in (request.args.get("ids") or "").split(",") if i.strip()]
    if not ids:
        return errors_response(400, "ids or delete_all_contacts is required", field="ids")
    if len(ids) > MAX_DELETE_IDS:
        return errors_response(400, f"at most {MAX_DELETE_IDS} ids per request", field="ids")
    return json_response({"job_id": get_state().submit_delete(ids).id}, 202)


@api.get("/marketing/lists")
@requires(MC_READ)
def lists() -> Response:
    result = get_state().lists_json()
    return json_response({"result": result, "_metadata": {"count": len(result)}})


def _rejection_response(rejection: Rejection) -> Response:
    return json_response({"errors": rejection.errors}, rejection.status)
