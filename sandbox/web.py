"""Small Flask helpers shared by the API and control routes: the state, error bodies, scopes."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, g

from sandbox.state import SandboxState

STATE_EXTENSION = "sandbox_state"


def get_state() -> SandboxState:
    return current_app.extensions[STATE_EXTENSION]


def json_response(body: object, status: int = 200) -> Response:
    # Compact, unsorted JSON, the way SendGrid writes it.
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


def errors_response(status: int, message: str, field: str | None = None, **extra: Any) -> Response:
    """SendGrid's common error shape: ``{"errors":[{"field":..., "message":...}]}``."""
    return json_response({"errors": [{"field": field, "message": message, **extra}]}, status)


def requires(*any_of: str) -> Callable:
    """Answer 403 ``access forbidden`` unless the request's key has one of these scopes."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not get_state().has_any_scope(g.key, any_of):
                return errors_response(403, "access forbidden")
            return view(*args, **kwargs)

        return wrapper

    return decorator
