"""The admin HTTP API (flask-smorest): install, integrations, Live Events, replay, stats, and event intake.

Every route under /v1/admin/ and /v1/events needs `Authorization: Bearer $SIGNAL_ADMIN_TOKEN`; the OpenAPI
document (/openapi.json) and the docs page (/docs) do not. One database transaction per request.

This module builds the app: configuration, the OpenAPI setup, authentication, error handlers and the docs page.
The routes are in `integrations`, `deliveries`, `stats` and `intake`, all on the blueprint of `blueprint`.
"""

from __future__ import annotations

import hmac
import html

from flask import Flask, Response, current_app, request
from flask_smorest import Api, abort
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from config.settings import ConfigError, Settings, hide_password, load_settings
from models.db import database_url, engine_for, session_factory
from workers.admin import schemas
from workers.admin.blueprint import MAX_EVENTS_BODY, ApiState, blp, state
from workers.admin.events import EventPublisher
from workers.console.pages import register as register_console

# isort: off
# Imported for their routes, in this order: the order of the operations in the OpenAPI document and on /docs.
from workers.admin import integrations, deliveries, stats, intake  # noqa: F401
# isort: on

TITLE = "signal-sendgrid admin API"
PROTECTED = ("/v1/admin/", "/v1/events")


def check_token() -> None:
    """Bearer authentication of the protected routes, compared in constant time."""
    if not request.path.startswith(PROTECTED):
        return
    expected = state().settings.admin_token
    if not expected:
        abort(503, message="SIGNAL_ADMIN_TOKEN is not configured on this server: the admin API is disabled")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "surrogateescape"), expected.encode()
    ):
        abort(
            401,
            message="a valid `Authorization: Bearer <SIGNAL_ADMIN_TOKEN>` header is required",
            headers={"WWW-Authenticate": 'Bearer realm="signal-sendgrid"'},
        )


def database_unavailable(error: OperationalError):
    reason = str(error.orig or error).strip().splitlines()[0] if str(error.orig or error).strip() else "no answer"
    url = hide_password(database_url(state().settings))
    return {
        "code": 503,
        "status": "Service Unavailable",
        "message": f"the database is unavailable ({reason}): {url}",
    }, 503


def misconfigured(error: ConfigError):
    return {"code": 503, "status": "Service Unavailable", "message": f"server configuration: {error}"}, 503


def docs_page() -> Response:
    """A self-contained page (no CDN): every operation with its summary, and a link to the document."""
    spec = current_app.extensions["signal_sendgrid_api"].spec.to_dict()
    items = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            items.append(
                f"<h3><code>{method.upper()} {html.escape(path)}</code></h3>"
                f"<p><b>{html.escape(op.get('summary', ''))}</b></p>"
                f"<p>{html.escape(op.get('description', '')).replace(chr(10) + chr(10), '<br><br>')}</p>"
            )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{TITLE}</title></head>"
        "<body style='font-family:sans-serif;max-width:60em;margin:auto'>"
        f"<h1>{TITLE}</h1><p>OpenAPI document: <a href='/openapi.json'>/openapi.json</a>. "
        "Every route below needs <code>Authorization: Bearer $SIGNAL_ADMIN_TOKEN</code>.</p>"
        + "".join(items)
        + "</body></html>"
    )
    return Response(page, mimetype="text/html")


def create_app(settings: Settings | None = None, sessions: sessionmaker[Session] | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask("signal-sendgrid-api")
    app.config.update(
        API_TITLE=TITLE,
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=MAX_EVENTS_BODY,
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
    app.extensions["signal_sendgrid"] = ApiState(
        settings=settings,
        sessions=sessions or session_factory(engine_for(database_url(settings))),
        publisher=EventPublisher(settings.broker_url),
    )
    app.before_request(check_token)
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(ConfigError, misconfigured)
    app.add_url_rule("/docs", "docs", docs_page)
    register_console(app)
    return app
