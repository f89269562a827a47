"""The ``/_sandbox`` control routes: inspect the account, inject faults, manage keys, reset.

These need no key: the sandbox listens on 127.0.0.1 only and these paths never exist on SendGrid.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from sandbox import DEFAULT_SCOPES
from sandbox.limits import FaultConfigError
from sandbox.web import get_state, json_response

admin = Blueprint("admin", __name__, url_prefix="/_sandbox")


def _body() -> dict:
    body = request.get_json(force=True, silent=True)
    return body if isinstance(body, dict) else {}


def _problem(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


@admin.get("/health")
def health() -> Response:
    return json_response({"ok": True})


@admin.get("/contacts")
def contacts() -> Response:
    return json_response({"contacts": get_state().contacts_json()})


@admin.get("/requests")
def requests_log() -> Response:
    state = get_state()
    with state.lock:
        return json_response({"requests": list(state.request_log)})


@admin.get("/jobs")
def jobs() -> Response:
    return json_response({"jobs": get_state().jobs_json()})


@admin.get("/jobs/<job_id>/errors")
def job_errors(job_id: str) -> Response:
    job = get_state().job_json(job_id, with_errors=True)
    if job is None:
        return _problem("job not found", 404)
    return json_response({"id": job["id"], "status": job["status"], "errors": job["errors"]})


@admin.post("/flush-jobs")
def flush_jobs() -> Response:
    return json_response({"applied": get_state().apply_due_jobs(force=True)})


@admin.get("/suppressions")
def suppressions() -> Response:
    state = get_state()
    with state.lock:
        return json_response(state.suppressions.snapshot())


@admin.get("/faults")
def faults() -> Response:
    return json_response(get_state().faults_json())


@admin.post("/faults")
def set_faults() -> Response:
    try:
        return json_response(get_state().set_faults(_body()))
    except FaultConfigError as exc:
        return _problem(str(exc))


@admin.delete("/faults")
def clear_faults() -> Response:
    return json_response(get_state().set_faults({}))


@admin.post("/keys")
def add_key() -> Response:
    body = _body()
    key, scopes = body.get("key"), body.get("scopes", list(DEFAULT_SCOPES))
    if not isinstance(key, str) or not key or not isinstance(scopes, list):
        return _problem("expected {'key': str, 'scopes': [str, ...]}")
    get_state().add_key(key, scopes)
    return json_response({"added": True}, 201)


@admin.post("/keys/<key>/revoke")
def revoke_key(key: str) -> Response:
    return _key_flag(key, revoked=True)


@admin.post("/keys/<key>/restore")
def restore_key(key: str) -> Response:
    return _key_flag(key, revoked=False)


def _key_flag(key: str, revoked: bool) -> Response:
    if not get_state().set_revoked(key, revoked):
        return _problem("unknown key", 404)
    return json_response({"revoked": revoked})


@admin.post("/lists")
def add_list() -> Response:
    body = _body()
    if not isinstance(body.get("id"), str):
        return _problem("expected {'id': str, 'name': str}")
    get_state().add_list(body["id"], str(body.get("name") or body["id"]))
    return json_response({"added": True}, 201)


@admin.post("/groups")
def add_group() -> Response:
    body = _body()
    if not isinstance(body.get("id"), int):
        return _problem("expected {'id': int, 'name': str}")
    get_state().add_group(body["id"], str(body.get("name") or body["id"]))
    return json_response({"added": True}, 201)


@admin.get("/settings")
def settings() -> Response:
    state = get_state()
    with state.lock:
        return json_response(state.settings_json())


@admin.post("/settings")
def update_settings() -> Response:
    try:
        return json_response(get_state().update_settings(_body()))
    except (TypeError, ValueError) as exc:
        return _problem(f"invalid settings: {exc}")


@admin.post("/reset")
def reset() -> Response:
    body = _body()
    get_state().reset(keys=bool(body.get("keys")), lists=bool(body.get("lists")))
    return json_response({"reset": True})
