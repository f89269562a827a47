"""The admin HTTP API (flask-smorest): install, integrations, Live Events, replay, stats, and event intake.

Every route under /v1/admin/ and /v1/events needs `Authorization: Bearer $SIGNAL_ADMIN_TOKEN`; the OpenAPI
document (/openapi.json) and the docs page (/docs) do not. POST /v1/events also takes $SIGNAL_INGEST_TOKEN.
/metrics (Prometheus, `metrics`) is open unless SIGNAL_METRICS_TOKEN is set. One database transaction per request.

This module builds the app: configuration, the OpenAPI setup, authentication, error handlers; the docs page (/docs)
is the console's (workers.console.docs).
The routes are in `integrations`, `deliveries`, `stats` and `intake`, all on the blueprint of `blueprint`.
"""

from __future__ import annotations

import hmac
import logging

from flask import Flask, request
from flask_smorest import Api, abort
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from config.settings import ConfigError, Settings, hide_password, load_settings
from models.db import database_url, engine_for, session_factory
from workers.admin import schemas
from workers.admin.blueprint import MAX_EVENTS_BODY, ApiState, blp, state
from workers.admin.events import EventPublisher
from workers.admin.metrics import register as register_metrics
from workers.console.pages import register as register_console
from workers.failures import Throttle

# isort: off
# Imported for their routes, in this order: the order of the operations in the OpenAPI document and on /docs.
from workers.admin import integrations, deliveries, inbox_view, stats, intake, privacy  # noqa: F401
# isort: on

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


log = logging.getLogger(__name__)
_database_down = Throttle(log)  # an outage: one line, then at most every 30 s, not one per request


def database_unavailable(error: OperationalError):
    reason = str(error.orig or error).strip().splitlines()[0] if str(error.orig or error).strip() else "no answer"
    url = hide_password(database_url(state().settings))
    _database_down.warning("DATABASE_URL is unreachable (%s): %s; answering 503 until it is back", reason, url)
    return {
        "code": 503,
        "status": "Service Unavailable",
        "message": f"the database is unavailable ({reason}): {url}",
    }, 503


def out_of_range(error: DataError):
    """A value the database cannot hold (an id beyond bigint, ...): the request's fault, answered 400."""
    reason = str(error.orig or error).strip().splitlines()[0] if str(error.orig or error).strip() else "invalid"
    return {"code": 400, "status": "Bad Request", "message": f"a value in the request is out of range ({reason})"}, 400


def misconfigured(error: ConfigError):
    return {"code": 503, "status": "Service Unavailable", "message": f"server configuration: {error}"}, 503


def create_app(settings: Settings | None = None, sessions: sessionmaker[Session] | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask("signal-sendgrid-api", static_folder=None)  # no /static from the working directory
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
    app.register_error_handler(DataError, out_of_range)
    register_metrics(app)
    register_console(app)
    return app
