"""The admin HTTP API (flask-smorest): install, integrations, Live Events, replay, stats, and event intake.

Every route under /v1/admin/ and /v1/events needs `Authorization: Bearer $SIGNAL_ADMIN_TOKEN`; the OpenAPI
document (/openapi.json) and the docs page (/docs) do not. One database transaction per request.
"""

from __future__ import annotations

import hmac
import html
import http
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass

import flask_smorest
from flask import Flask, Response, current_app, request
from flask_smorest import Api, abort
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from webargs.flaskparser import FlaskParser

from config.secrets import redact
from config.settings import ConfigError, Settings, hide_password, load_settings
from models import Integration
from models.db import database_url, engine_for, session_factory
from workers.admin import schemas
from workers.admin.events import BrokerUnavailable, EventPublisher, InvalidEvents, parse_events

log = logging.getLogger(__name__)

TITLE = "signal-sendgrid admin API"
MAX_EVENTS_BODY = 1024 * 1024  # bytes of any request body; a larger one is answered 413
PROTECTED = ("/v1/admin/", "/v1/events")
ERRORS = ("BAD_REQUEST", "UNAUTHORIZED", "SERVICE_UNAVAILABLE")


class Parser(FlaskParser):
    """webargs as this API uses it: 400 (not 422) for invalid input, and a message with every error."""

    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req):  # noqa: ANN001 - webargs hook
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            abort(400, message="the body is nested too deeply", errors={"json": ["Invalid JSON body."]})

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


@dataclass
class ApiState:
    settings: Settings
    sessions: sessionmaker[Session]
    publisher: EventPublisher


def state() -> ApiState:
    return current_app.extensions["signal_sendgrid"]


def transaction() -> AbstractContextManager[Session]:
    """One transaction per request: commit on success, roll back on error (an abort included)."""
    return state().sessions.begin()


def documented_errors(*names: str):
    """Document the error answers every protected route may give, plus the route's own."""

    def decorator(func):
        for name in (*ERRORS, *names):
            func = blp.alt_response(http.HTTPStatus[name].value, response=name)(func)
        return func

    return decorator


blp = Blueprint("admin", __name__, url_prefix="/v1", description="Admin routes and event intake")


@blp.route("/admin/integration-catalog/sendgrid/install", methods=["POST"])
@blp.arguments(
    schemas.InstallSchema,
    example={
        "name": "SendGrid",
        "variant": "default",
        "config": {"api_key": "SG.xxxxxxxxxxxxxxxxxxxx", "default_list_id": "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"},
        "delivery_mode": "server_side",
    },
)
@blp.response(201, schemas.InstalledSchema)
@documented_errors()
def install_sendgrid(body: dict) -> dict:
    """Install a SendGrid integration

    Checks the key (GET /v3/scopes), the list and the custom fields against SendGrid, creates the missing
    fields, and stores the key encrypted: what `signal-sendgrid install` does. A key SendGrid rejects is a
    400 whose message gives the troubleshooting advice; the key is never echoed.
    """
    from workers.integrations.install import InstallError, InstallRequest, install

    config = body["config"]
    api_key = config["api_key"]
    options = {k: config[k] for k in ("user_id_field", "unsubscribe_group_id") if k in config}
    options["require_consent"] = config["require_consent"]
    install_request = InstallRequest(
        api_key=api_key,
        name=body["name"],
        variant=body["variant"],
        delivery_mode=body["delivery_mode"],
        default_list_id=config["default_list_id"],
        region=config["region"],
        trait_fields=config["trait_fields"],
        options=options,
    )
    try:
        with transaction() as session:
            result = install(session, install_request, state().settings)
            return {
                **integration_view(result.integration),
                "created_fields": result.created_fields,
                "warnings": [redact(w, api_key) for w in result.warnings],
            }
    except InstallError as e:
        abort(400, message=f"install failed: {redact(str(e), api_key)}")


def integration_view(integration: Integration) -> dict:
    return {
        "id": integration.id,
        "name": integration.name,
        "variant": integration.variant,
        "delivery_mode": integration.delivery_mode,
        "status": integration.status.value,
        "status_reason": integration.status_reason,
        "api_key": integration.api_key_hint,
        "api_url": integration.api_url,
        "default_list_id": integration.default_list_id,
        "field_ids": {name: str(value) for name, value in (integration.field_ids or {}).items()},
        "created_at": integration.created_at,
    }


@blp.route("/admin/integrations", methods=["GET"])
@blp.response(200, schemas.IntegrationSchema(many=True))
@documented_errors()
def list_integrations() -> list[dict]:
    """Installed integrations, keys masked, with their status and what to do when not active"""
    with transaction() as session:
        return [integration_view(i) for i in session.scalars(select(Integration).order_by(Integration.id))]


@blp.route("/admin/deliveries", methods=["GET"])
@blp.arguments(schemas.DeliveriesQuerySchema, location="query")
@blp.response(200, schemas.DeliveryPageSchema)
@documented_errors()
def list_deliveries(query: dict) -> dict:
    """Live Events: deliveries, newest first, filtered and paginated"""
    from workers.admin.reports import live_events

    page, page_size = query["page"], query["page_size"]
    with transaction() as session:
        rows = live_events(
            session,
            status=query.get("status"),
            limit=page_size + 1,  # one more tells whether there is a next page
            offset=(page - 1) * page_size,
            integration_id=query.get("integration_id"),
            event_type=query.get("event_type"),
        )
    return {"items": rows[:page_size], "page": page, "page_size": page_size, "has_more": len(rows) > page_size}


@blp.route("/admin/deliveries/replay", methods=["POST"])
@blp.arguments(schemas.ReplaySchema)
@blp.response(200, schemas.ReplayResultSchema)
@documented_errors()
def replay(body: dict) -> dict:
    """Replay deliveries (failed by default): queue them again, optionally re-mapping their events

    With dry_run, only count what would be replayed. After a replay, a flush of each integration concerned is
    triggered (the periodic sweep flushes them anyway if that trigger cannot be sent).
    """
    from workers.processing.replay import ReplayFilter, replay_deliveries

    flt = ReplayFilter(
        status=body["status"],
        since=body.get("since"),
        until=body.get("until"),
        integration_id=body.get("integration_id"),
        event_type=body.get("event_type"),
        message_ids=body["message_ids"],
    )
    with transaction() as session:
        result = replay_deliveries(session, flt, remap=body["remap"], dry_run=body["dry_run"])
        if body["dry_run"]:
            session.rollback()  # release the row locks; a dry run changes nothing
    if not body["dry_run"]:
        trigger_flushes(sorted(result.integrations))
    return {"matched": result.matched, "requeued": result.requeued, "dry_run": body["dry_run"]}


def trigger_flushes(integration_ids: list[int]) -> None:
    try:
        from workers.tasks import flush_integration_task

        for integration_id in integration_ids:
            flush_integration_task.delay(integration_id)
    except Exception as e:  # the sweep flushes them anyway
        log.warning("could not trigger a flush now (%s); the sweep will", type(e).__name__)


@blp.route("/admin/stats", methods=["GET"])
@blp.response(200, schemas.StatsSchema)
@documented_errors()
def get_stats() -> dict:
    """Counts by status: events received and rejected; deliveries queued, sent, succeeded, failed, skipped"""
    from workers.admin.reports import stats

    with transaction() as session:
        return stats(session)


@blp.route("/events", methods=["POST"])
@blp.doc(
    requestBody={
        "required": True,
        "description": f'One event, or {{"batch": [...]}} of at most {schemas.MAX_BATCH} events; '
        f"at most {MAX_EVENTS_BODY} bytes.",
        "content": {"application/json": {"schema": schemas.EVENTS_BODY_JSON_SCHEMA}},
    }
)
@blp.response(202, schemas.AcceptedSchema)
@documented_errors("REQUEST_ENTITY_TOO_LARGE")
def post_events() -> dict:
    """Publish events to the exchange datafly.events

    Answered 202 only after the broker confirmed every event. All or nothing: when any event of a batch is
    invalid (not an object, no non-empty string messageId or type), none is published and the 400 names
    each invalid one. A 503 means the broker did not confirm; re-sending is safe (a messageId is stored once).
    """
    try:
        events = parse_events(request.get_data(cache=False))
    except InvalidEvents as e:
        abort(400, message=str(e), errors=e.errors)
    try:
        return {"accepted": state().publisher.publish(events)}
    except BrokerUnavailable as e:
        abort(503, message=str(e))


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
    return app
