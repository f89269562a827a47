"""What the web interfaces (the API, `workers/admin`, and the console, `workers/console`) share in one process:
the settings, the session factory and the event publisher the web root (`workers/web.py`) put on the app, and
one database transaction per request. Neither interface imports the other for them."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings


@dataclass
class WebState:
    settings: Settings
    sessions: sessionmaker[Session]
    publisher: Any  # POST /v1/events' publisher (workers.services.intake.EventPublisher): the API's own


def state() -> WebState:
    return current_app.extensions["signal_sendgrid"]


def transaction() -> AbstractContextManager[Session]:
    """One transaction per request: commit on success, roll back on error (an abort included)."""
    return state().sessions.begin()
