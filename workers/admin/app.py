"""The admin HTTP API (flask-smorest) on the web root's app: install, integrations, Live Events, replay, stats,
erasures and event intake. `register(app)` is all of it; `workers/web.py` builds the app and calls it.

Every route under /v1/admin/ and /v1/events needs `Authorization: Bearer $SIGNAL_ADMIN_TOKEN`; the OpenAPI
document (/openapi.json) and the docs page (/docs, the console's) do not. POST /v1/events also takes
$SIGNAL_INGEST_TOKEN. One database transaction per request.
The routes are in `integrations`, `deliveries`, `inbox_view`, `stats`, `intake` and `privacy`, all on the
blueprint of `blueprint`.
"""

from __future__ import annotations

import hmac

from flask import Flask, request
from flask_smorest import Api, Blueprint, abort

from workers.admin import schemas
from workers.admin.blueprint import blp, state

TITLE = "signal-sendgrid admin API"
PROTECTED = ("/v1/admin/", "/v1/events")
INGEST_PATH = "/v1/events"


def _bearer() -> bytes | None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return given.strip().encode("utf-8", "surrogateescape") if scheme.lower() == "bearer" else None


def _matches(given: bytes | None, expected: str | None) -> bool:
    return given is not None and expected is not None and hmac.compare_digest(given, expected.encode())


def check_token() -> None:
    """Bearer authentication of the protected routes, compared in constant time: the admin token allows every
    route, SIGNAL_INGEST_TOKEN only POST /v1/events (event producers need not hold the key to installs)."""
    if not request.path.startswith(PROTECTED):
        return
    settings = state().settings
    if not settings.admin_token:
        abort(503, message="SIGNAL_ADMIN_TOKEN is not configured on this server: the admin API is disabled")
    given = _bearer()
    if _matches(given, settings.admin_token):
        return
    if _matches(given, settings.ingest_token):
        if request.method == "POST" and request.path == INGEST_PATH:
            return
        abort(403, message=f"SIGNAL_INGEST_TOKEN only allows POST {INGEST_PATH}; this route needs the admin token")
    abort(
        401,
        message="a valid `Authorization: Bearer <SIGNAL_ADMIN_TOKEN>` header is required",
        headers={"WWW-Authenticate": 'Bearer realm="signal-sendgrid"'},
    )


def register(app: Flask) -> Blueprint:
    """The API on `app` (whose extensions hold the web state): its OpenAPI document, its routes and the token
    check. Returns its blueprint."""
    # isort: off
    # Imported for their routes, in this order: the order of the operations in the OpenAPI document and on /docs.
    from workers.admin import integrations, deliveries, inbox_view, stats, intake, privacy  # noqa: F401
    # isort: on

    app.config.update(
        API_TITLE=TITLE,
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "security": [{"bearerAuth": []}],
            "info": {"description": "Admin API of signal-sendgrid. See docs/api.md."},
        },
    )
    api = Api(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "SIGNAL_ADMIN_TOKEN"}
    )
    api.spec.components.schema("Event", schemas.EVENT_JSON_SCHEMA)
    api.register_blueprint(blp)
    app.extensions["signal_sendgrid_api"] = api
    app.before_request(check_token)
    return blp
