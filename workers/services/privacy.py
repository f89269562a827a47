"""Erasure requests, as the API (`POST /v1/admin/privacy/erasures`), the CLI (`forget`, `erasures`) and any
page ask for them: record one, read one or the newest, and run it.

Who runs an erasure is decided here and in `triggers.erasure`, nowhere else: the workers (signal.run_erasure)
once the request commits; without a broker (the embedded mode) the caller's `run_here`, such as a thread of the
API's process so that the request returns at once (`in_background`); or, when the caller asks for it
(`forget` without --queue), the caller itself once committed (`run`), waiting for SendGrid.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from models import Erasure
from workers.integrations.status import client_for
from workers.privacy import erasure as stage
from workers.privacy.erasure import ErasureError, Subject
from workers.privacy.remote import drive_erasure
from workers.privacy.report import erasure_summary
from workers.services import triggers

__all__ = ["ErasureError", "Subject", "in_background", "recent", "request_erasure", "run", "subject", "summary"]

API_TIMEOUT = 600.0  # seconds an erasure run in the API's process (no broker) waits for SendGrid


def subject(email: str | None = None, user_id: str | None = None) -> Subject:
    """Whom to forget: exactly one of an email or a userId (ErasureError says what is wrong)."""
    return Subject.of(email, user_id)


def request_erasure(
    session: Session,
    settings: Settings,
    person: Subject,
    run_here: Callable[[int], None] | None = None,
    queue: bool = True,
) -> dict:
    """Record an erasure of `person` and say how it stands. Once `session` commits the workers run it; without
    a broker `run_here(erasure_id)` does, when given. `queue=False`: nothing is sent, the caller runs it (`run`)."""
    erasure = stage.request_erasure(session, settings, person)
    if queue:
        erasure_id = erasure.id
        here = (lambda: run_here(erasure_id)) if run_here is not None else None
        triggers.erasure(session, erasure_id, run_here=here)
    return erasure_summary(erasure)


def run(sessions: sessionmaker[Session], settings: Settings, erasure_id: int, timeout: float) -> None:
    """Run a committed erasure in this process until it finished or `timeout` passed (its own transactions)."""
    drive_erasure(sessions, erasure_id, lambda i: client_for(i, settings), settings, timeout)


def in_background(sessions: sessionmaker[Session], settings: Settings) -> Callable[[int], None]:
    """`run_here` for a server: the erasure runs on a daemon thread of this process, the request returns."""

    def start(erasure_id: int) -> None:
        thread = threading.Thread(
            target=run, args=(sessions, settings, erasure_id, API_TIMEOUT), name=f"erasure-{erasure_id}", daemon=True
        )
        thread.start()

    return start


def summary(session: Session, erasure_id: int) -> dict | None:
    """An erasure: its status, what was removed per table, per integration what SendGrid did (None: no such)."""
    erasure = session.get(Erasure, erasure_id)
    return erasure_summary(erasure) if erasure is not None else None


def recent(session: Session, limit: int) -> list[dict]:
    """The newest erasures first."""
    return [erasure_summary(e) for e in session.scalars(select(Erasure).order_by(Erasure.id.desc()).limit(limit))]
