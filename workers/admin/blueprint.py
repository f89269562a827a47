"""What every admin route shares: the one blueprint they are on, the request parser, and (from
`workers.web_state`, which the console shares) the per-request state and transaction.

All routes are on one blueprint (`admin`, prefix /v1) so the OpenAPI document has one tag and the endpoints keep
their names (`admin.install_sendgrid`, ...); the route modules (integrations, deliveries, stats, intake) add
their routes to it when imported, and `workers.admin.app.register` imports them in the documented order.
"""

from __future__ import annotations

import http
import json

import flask_smorest
from flask_smorest import abort
from webargs.flaskparser import FlaskParser

from workers.web_state import state, transaction

__all__ = ["MAX_EVENTS_BODY", "blp", "documented_errors", "state", "transaction"]

MAX_EVENTS_BODY = 1024 * 1024  # bytes of any request body; a larger one is answered 413
ERRORS = ("BAD_REQUEST", "UNAUTHORIZED", "SERVICE_UNAVAILABLE")


class Parser(FlaskParser):
    """webargs as this API uses it: 400 (not 422) for invalid input, and a message with every error."""

    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req):  # noqa: ANN001 - webargs hook
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            abort(400, message="the body is nested too deeply", errors={"json": ["Invalid JSON body."]})
        except json.JSONDecodeError:
            raise  # webargs' own handling: an empty body is missing, anything else invalid JSON
        except ValueError as e:  # not a JSONDecodeError: an integer beyond Python's 4300 digits
            abort(400, message=f"the body is not valid JSON: {e}", errors={"json": ["Invalid JSON body."]})

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):  # noqa: ANN001 - webargs hook
        abort(400, message="the body is not valid JSON", errors={"json": ["Invalid JSON body."]})

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):  # noqa: ANN001
        abort(
            error_status_code or self.DEFAULT_VALIDATION_STATUS,
            message="the request is invalid: see errors, field by field",
            errors=error.messages,
            headers=error_headers,
        )


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()


def documented_errors(*names: str):
    """Document the error answers every protected route may give, plus the route's own."""

    def decorator(func):
        for name in (*ERRORS, *names):
            func = blp.alt_response(http.HTTPStatus[name].value, response=name)(func)
        return func

    return decorator


blp = Blueprint("admin", __name__, url_prefix="/v1", description="Admin routes and event intake")
