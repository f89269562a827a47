"""The ``/v3/asm`` suppression routes: unsubscribe-group and global suppressions."""

from __future__ import annotations

from flask import Blueprint, Response, request

from sandbox.web import errors_response, get_state, json_response, requires

asm = Blueprint("asm", __name__, url_prefix="/v3/asm")

GROUP = "asm.groups.suppressions."
GLOBAL = "asm.suppressions.global."


def _recipient_emails() -> list[str] | None:
    body = request.get_json(force=True, silent=True)
    emails = body.get("recipient_emails") if isinstance(body, dict) else None
    if not isinstance(emails, list) or not emails or not all(isinstance(e, str) for e in emails):
        return None
    return emails


def _bad_emails() -> Response:
    return errors_response(400, "recipient_emails must be a non-empty list of emails", field="recipient_emails")


@asm.get("/groups/<int:group_id>/suppressions")
@requires(GROUP + "read")
def group_suppressions(group_id: int) -> Response:
    state = get_state()
    with state.lock:
        return json_response(state.suppressions.group_emails(group_id))


@asm.post("/groups/<int:group_id>/suppressions")
@requires(GROUP + "create")
def add_group_suppressions(group_id: int) -> Response:
    emails = _recipient_emails()
    if emails is None:
        return _bad_emails()
    state = get_state()
    with state.lock:
        added = state.suppressions.add_to_group(group_id, emails)
    return json_response({"recipient_emails": added}, 201)


@asm.delete("/groups/<int:group_id>/suppressions/<email>")
@requires(GROUP + "delete")
def remove_group_suppression(group_id: int, email: str) -> Response:
    state = get_state()
    with state.lock:
        state.suppressions.remove_from_group(group_id, email)
    return Response(status=204)


@asm.get("/suppressions/global")
@requires(GLOBAL + "read")
def global_suppressions() -> Response:
    # A sandbox convenience: SendGrid lists global unsubscribes under /v3/suppression/unsubscribes.
    state = get_state()
    with state.lock:
        return json_response(list(state.suppressions.global_emails))


@asm.get("/suppressions/global/<email>")
@requires(GLOBAL + "read")
def global_suppression(email: str) -> Response:
    state = get_state()
    with state.lock:
        found = email.strip().lower() in state.suppressions.global_emails
    return json_response({"recipient_email": email} if found else {})


@asm.post("/suppressions/global")
@requires(GLOBAL + "create")
def add_global_suppressions() -> Response:
    emails = _recipient_emails()
    if emails is None:
        return _bad_emails()
    state = get_state()
    with state.lock:
        added = state.suppressions.add_global(emails)
    return json_response({"recipient_emails": added}, 201)


@asm.delete("/suppressions/global/<email>")
@requires(GLOBAL + "delete")
def remove_global_suppression(email: str) -> Response:
    state = get_state()
    with state.lock:
        state.suppressions.remove_global(email)
    return Response(status=204)
