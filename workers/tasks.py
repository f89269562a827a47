"""Celery tasks: thin wrappers that hand ids to plain functions. Arguments are ids only, never personal data.

Every task derives from `DatabaseTask`, which owns its database work: the session factory and settings of the
process (bound once; the demo binds its own with `use`), one transaction per step (committed when the step
returns, rolled back when it raises, closed either way). Triggers go out through the two functions here,
`trigger_processing` and `trigger_flush`, and a caller inside a transaction sends them with `after_commit`,
so that a worker never receives the id of a row it cannot see yet.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from functools import lru_cache

from celery import Task
from celery.signals import beat_init, worker_init, worker_process_init
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from config.settings import ConfigError, Settings, load_settings
from models.db import get_engine, session_factory
from workers.celery import app, triggers_waiting
from workers.delivery.flush import flush_integration
from workers.delivery.imports import poll_imports
from workers.failures import Throttle, broker_error, broker_errors, check_database, database_error
from workers.integrations.lifecycle import recheck_all
from workers.integrations.status import client_for
from workers.privacy.hashing import bind as bind_hasher
from workers.privacy.remote import drive_erasure, run_erasure
from workers.privacy.retention import apply_retention, overdue_erasures
from workers.processing.process import process_events
from workers.processing.sweep import sweep
from workers.sendgrid.client import SendGridClient

log = logging.getLogger(__name__)
_database_down = Throttle(log)
_broker_down = Throttle(log)
_bound: dict[str, object] = {}  # what `use` bound: "sessions", "settings"


@lru_cache(maxsize=1)
def _process_sessions() -> sessionmaker[Session]:
    return session_factory(get_engine())


def sessions() -> sessionmaker[Session]:
    """The session factory tasks use: the one bound with `use`, else the database the settings name."""
    return _bound.get("sessions") or _process_sessions()  # type: ignore[return-value]


def settings() -> Settings:
    return _bound.get("settings") or load_settings()  # type: ignore[return-value]


def use(bound_sessions: sessionmaker[Session], bound_settings: Settings) -> None:
    """Run the tasks of this process on these (the demo: its own embedded database and settings)."""
    _bound.update(sessions=bound_sessions, settings=bound_settings)
    bind_hasher(bound_settings)  # processing recognises erased people with this secret


@worker_init.connect
def _database_usable_at_boot(**_kwargs) -> None:
    """A worker whose database is unusable (a DATABASE_URL typo, a schema not migrated) stops at boot with one
    line, instead of saying "ready" and failing every task."""
    if _bound:
        return
    try:
        check_database(get_engine())
    except ConfigError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.stderr.flush()
        os._exit(2)  # celery would catch an exception here and carry on booting


@worker_init.connect
@beat_init.connect
def _broker_usable_at_boot(**_kwargs) -> None:
    """RabbitMQ refusing the login (a wrong password, an unknown vhost) will not heal by retrying: one line and
    exit 2, instead of Celery's "Unrecoverable error" traceback. An unreachable broker is retried by Celery."""
    if app.conf.task_always_eager:
        return
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0.2)
    except broker_errors() as e:
        error = broker_error(app.conf.broker_url, e)
        if "refused by RabbitMQ" in str(error):
            sys.stderr.write(f"error: {error}\n")
            sys.stderr.flush()
            os._exit(2)


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    # A forked pool process must not share the parent's database connections.
    get_engine().dispose(close=False)


class DatabaseTask(Task):
    """The base of every task: its database and settings, one transaction per step."""

    abstract = True

    def __call__(self, *args, **kwargs):
        # The database went away: one line (again at most every 30 s), no traceback per task. The work stays
        # in the database and beat's next sweep triggers it again: a lost trigger costs latency, never data.
        try:
            return super().__call__(*args, **kwargs)
        except OperationalError as e:
            bind = sessions().kw.get("bind")
            url = bind.url.render_as_string(hide_password=False) if bind is not None else "DATABASE_URL"
            _database_down.warning("%s: %s skipped; the sweep retries it", database_error(url, e), self.name)
            return None

    def transaction(self) -> AbstractContextManager[Session]:
        return sessions().begin()

    def client_for(self, integration) -> SendGridClient:
        return client_for(integration, settings())


# --- triggers ---------------------------------------------------------------------------------------------


def trigger_processing(event_ids: list[int], fresh: bool = True) -> None:
    """Ask the pool to process stored events. Ingest's triggers are `fresh` (the events were just stored);
    the sweep's re-triggers are not, so the attempt they start is counted (see `process_events`)."""
    for start in range(0, len(event_ids), 1000):
        part = event_ids[start : start + 1000]
        process_events_task.apply_async(
            (part,), {"fresh": fresh}, argsrepr=f"[{len(part)} event ids]", kwargsrepr=f"{{'fresh': {fresh}}}"
        )


def trigger_flush(integration_ids: Iterable[int]) -> None:
    """Ask the pool to flush these integrations (one flush at a time each: a second one gives up at once)."""
    for integration_id in sorted(set(integration_ids)):
        flush_integration_task.delay(integration_id)


def trigger_erasure(erasure_id: int) -> None:
    """Ask the pool to run an erasure (eager mode: runs it here, waiting for SendGrid)."""
    run_erasure_task.delay(erasure_id)


def after_commit(session: Session, trigger: Callable[[], None]) -> None:
    """Send `trigger` once the session's transaction has committed; never if it rolls back."""
    session.info.setdefault("after_commit", []).append(trigger)


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    for trigger in session.info.pop("after_commit", []):
        try:
            trigger()
        except broker_errors() as e:  # RabbitMQ away (an outage): one line per 30 s, not a traceback per task
            _broker_down.warning("a trigger after commit was not sent, %s; the sweep will pick the work up",
                                 broker_error(app.conf.broker_url, e))  # fmt: skip
        except Exception:  # committed work is not lost: the sweep finds what a lost trigger named
            log.exception("a trigger after commit could not be sent; the sweep will pick the work up")


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop("after_commit", None)


# --- tasks ------------------------------------------------------------------------------------------------


@app.task(name="signal.process_events", bind=True, base=DatabaseTask)
def process_events_task(self: DatabaseTask, event_ids: list[int], fresh: bool = False) -> int:
    """Map stored events into deliveries (committed), then ask for a flush of each integration that got work."""
    # A redelivered trigger was being worked on when its worker died or lost the broker: count its tries.
    fresh = fresh and not (self.request.delivery_info or {}).get("redelivered", False)
    touched = process_events(sessions(), event_ids, fresh=fresh)
    trigger_flush(touched)
    return len(touched)


@app.task(name="signal.flush_integration", bind=True, base=DatabaseTask)
def flush_integration_task(self: DatabaseTask, integration_id: int) -> int:
    """Send an integration's queued deliveries to SendGrid (one flush at a time per integration)."""
    return flush_integration(sessions(), integration_id, self.client_for).requests


@app.task(name="signal.poll_imports", bind=True, base=DatabaseTask, send_events=False)  # housekeeping
def poll_imports_task(self: DatabaseTask) -> int:
    """Ask SendGrid whether accepted imports finished, and settle their deliveries."""
    finished = poll_imports(sessions(), self.client_for)
    log.log(logging.INFO if finished else logging.DEBUG, "poll_imports: %s import jobs finished", finished)
    return finished


def task_queue_backlog() -> bool:
    """True while triggers wait in the task queue: received events are then behind them, not lost."""
    if app.conf.task_always_eager:
        return False  # embedded mode: no queue, tasks run in the caller
    try:
        with app.connection_for_read() as connection:
            return triggers_waiting(connection) > 0
    except Exception:  # cannot tell: re-triggering twice is harmless, losing a trigger is not
        log.warning("could not read the task queue's depth; re-triggering waiting events", exc_info=True)
        return False


@app.task(name="signal.sweep", bind=True, base=DatabaseTask, send_events=False)  # housekeeping
def sweep_task(self: DatabaseTask) -> None:
    """Re-trigger work whose trigger was lost, flush due retries, expire held events."""
    with self.transaction() as session:
        # Key and config problems as this worker meets them (key_unreadable, config_invalid), cleared when fixed.
        recheck_all(session, settings())  # before the sweep, which then flushes the ones active again
        found = sweep(session, find_lost_triggers=not task_queue_backlog())
        after_commit(session, lambda: trigger_processing(found.events_to_process, fresh=False))
        after_commit(session, lambda: trigger_flush(found.integrations_to_flush))
    did = (len(found.events_to_process), len(found.integrations_to_flush), found.expired_held)
    log.log(
        logging.INFO if any(did) else logging.DEBUG,
        "sweep: %s events re-triggered, %s integrations flushed, %s held deliveries expired",
        *did,
    )
    if found.released_held:
        log.warning(
            "sweep released %s held deliveries whose visitor was already linked (the identity locks should "
            "have released them: please report this)",
            found.released_held,
        )


@app.task(name="signal.run_erasure", bind=True, base=DatabaseTask, max_retries=None)
def run_erasure_task(self: DatabaseTask, erasure_id: int) -> None:
    """Forget a person here and in SendGrid (workers/privacy); retried after the delay SendGrid's answers ask for."""
    try:
        delay = run_erasure(sessions(), erasure_id, self.client_for, settings())
    except DBAPIError:  # a deadlock with a flush, the database restarting: the same pass again, a little later
        log.warning("erasure %s: pass failed; retried in 5 s", erasure_id, exc_info=True)
        delay = 5.0
    if delay is None:
        return
    if self.request.is_eager:  # no broker to hold a countdown: this process waits (the beat resumes a timeout)
        drive_erasure(sessions(), erasure_id, self.client_for, settings())
        return
    raise self.retry(countdown=delay)


@app.task(name="signal.retention", bind=True, base=DatabaseTask, send_events=False)  # housekeeping
def retention_task(self: DatabaseTask) -> dict:
    """Strip payloads, patches and error texts older than SIGNAL_RETENTION_DAYS; resume overdue erasures."""
    removed = apply_retention(sessions(), settings().retention)
    with self.transaction() as session:
        overdue = overdue_erasures(session)
    for erasure_id in overdue:
        trigger_erasure(erasure_id)
    return removed
