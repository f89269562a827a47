"""The Flask app: API and control routes, and what wraps every API request.

For a ``/v3`` request, in order: injected latency and connection resets (a WSGI middleware, so a
reset never reaches Flask), a trailing slash (404, empty body), injected 429 storms and 5xx
answers, authentication, the key's rate limit, then the view. Every ``/v3`` answer carries the
three ``X-RateLimit-*`` headers and lands in the request log. Pending import jobs whose delay has
passed are applied at the start of every request, API or control, so what a client reads is
never older than the delay.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.admin import admin
from sandbox.api import api
from sandbox.asm import asm
from sandbox.limits import RateInfo
from sandbox.state import SandboxState
from sandbox.web import STATE_EXTENSION, errors_response, get_state, json_response

FAULT_ENVIRON_KEY = "sandbox.fault"
AUTH_REQUIRED = "authorization required"
GRANT_INVALID = "The provided authorization grant is invalid, expired, or revoked"


class SandboxReset(ConnectionResetError):
    """Raised to make the server drop the connection without answering (an injected reset)."""


def is_api_path(path: str) -> bool:
    return path == "/v3" or path.startswith("/v3/")


def create_app(state: SandboxState) -> Flask:
    """Build the sandbox's Flask app around ``state``."""
    app = Flask("sandbox")
    app.extensions[STATE_EXTENSION] = state
    # No redirects, ever: "/v3//x" and "/v3/x/" are simply not found, as on SendGrid.
    app.url_map.strict_slashes = True
    app.url_map.merge_slashes = False
    for blueprint in (api, asm, admin):
        app.register_blueprint(blueprint)
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.register_error_handler(HTTPException, _http_error)
    app.wsgi_app = FaultMiddleware(app.wsgi_app, state)  # type: ignore[method-assign]
    return app


class FaultMiddleware:
    """Applies injected latency and connection resets before Flask sees the request."""

    def __init__(self, wsgi_app: Callable, state: SandboxState) -> None:
        self.wsgi_app = wsgi_app
        self.state = state

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if is_api_path(path):
            decision = self.state.decide_fault(path)
            if decision.latency:
                time.sleep(decision.latency)
            if decision.action == "reset":
                self.state.log_request(_log_entry(environ["REQUEST_METHOD"], path, None, "reset"))
                raise SandboxReset("injected connection reset")
            environ[FAULT_ENVIRON_KEY] = decision
        return self.wsgi_app(environ, start_response)


def _before_request() -> Response | None:
    state = get_state()
    state.apply_due_jobs()
    if not is_api_path(request.path):
        return None
    if request.path.endswith("/"):
        return Response(status=404)
    decision = request.environ.get(FAULT_ENVIRON_KEY)
    if decision is not None and decision.action == "storm":
        g.rate = RateInfo(state.limiter.limit, 0, decision.storm_reset_at, allowed=False)
        return errors_response(429, "too many requests")
    if decision is not None and decision.action == "error":
        return errors_response(decision.status, "internal error" if decision.status == 500 else "unavailable")
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return errors_response(401, AUTH_REQUIRED)
    if not state.key_is_valid(key.strip()):
        return errors_response(401, GRANT_INVALID, help=None)
    g.key = key.strip()
    g.rate = state.hit_rate_limit(g.key)
    if not g.rate.allowed:
        return errors_response(429, "too many requests")
    return None


def _after_request(response: Response) -> Response:
    if not is_api_path(request.path):
        return response
    state = get_state()
    info = g.get("rate") or state.peek_rate_limit(g.get("key", ""))
    response.headers.update(state.rate_headers(info))
    decision = request.environ.get(FAULT_ENVIRON_KEY)
    entry = _log_entry(request.method, request.path, response.status_code, decision and decision.action)
    entry["contacts"] = g.get("contact_count")
    entry["body_bytes"] = g.get("body_bytes", request.content_length or 0)
    state.log_request(entry)
    return response


def _log_entry(method: str, path: str, status: int | None, fault: str | None) -> dict:
    # Never the Authorization header or any part of the key.
    return {
        "time": time.time(),
        "method": method,
        "path": path,
        "status": status,
        "contacts": None,
        "body_bytes": 0,
        "fault": fault,
    }


def _http_error(exc: HTTPException) -> Response:
    if is_api_path(request.path):
        if exc.code == 404:
            return Response(status=404)
        return errors_response(exc.code or 500, (exc.name or "error").lower())
    return json_response({"error": exc.description}, exc.code or 500)
