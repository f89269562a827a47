"""The one web root: builds the web process's Flask app and mounts on it the admin JSON API (`workers/admin`),
the console (`workers/console`) and `/metrics`. `signal-sendgrid api` serves it (waitress, `workers/web_server.py`).

The app holds what both interfaces share (`workers.web_state`: settings, the session factory, the event
publisher) and answers the errors any request may meet (the database away, a value it cannot hold, a setting
missing) in one JSON shape. Nothing below this module imports it.
"""

from __future__ import annotations

import logging

from flask import Flask
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from config.settings import ConfigError, Settings, hide_password, load_settings
from models.db import database_url, engine_for, session_factory
from workers.admin import app as api
from workers.admin import metrics
from workers.admin.blueprint import MAX_EVENTS_BODY
from workers.console import pages as console
from workers.failures import Throttle
from workers.services.intake import EventPublisher
from workers.web_state import WebState, state

log = logging.getLogger(__name__)
_database_down = Throttle(log)  # an outage: one line, then at most every 30 s, not one per request


def create_app(settings: Settings | None = None, sessions: sessionmaker[Session] | None = None) -> Flask:
    """The web process's app: the API under /v1 (and /openapi.json), the console, /metrics."""
    settings = settings or load_settings()
    app = Flask("signal-sendgrid-api", static_folder=None)  # no /static from the working directory
    app.config.update(MAX_CONTENT_LENGTH=MAX_EVENTS_BODY)  # any request body; a larger one is answered 413
    app.extensions["signal_sendgrid"] = WebState(
        settings=settings,
        sessions=sessions or session_factory(engine_for(database_url(settings))),
        publisher=EventPublisher(settings.broker_url),
    )
    api_blueprint = api.register(app)
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(ConfigError, misconfigured)
    app.register_error_handler(DataError, out_of_range)
    metrics.register(app)
    console.register(app, exempt_from_csrf=[api_blueprint])  # the JSON API keeps its bearer token
    return app


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
