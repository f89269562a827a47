"""Celery tasks: thin wrappers that hand ids to plain functions. Arguments are ids only, never personal data."""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Task
from celery.signals import worker_process_init
from sqlalchemy.orm import Session, sessionmaker

from models.db import get_engine, session_factory
from workers.celery import app, triggers_waiting
from workers.delivery.flush import flush_integration
from workers.delivery.imports import poll_imports
from workers.integrations.status import client_for
from workers.processing.process import process_events
from workers.processing.sweep import sweep

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def sessions() -> sessionmaker[Session]:
    return session_factory(get_engine())


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    # A forked pool process must not share the parent's database connections.
    get_engine().dispose(close=False)


def trigger_processing(event_ids: list[int], fresh: bool = True) -> None:
    """Ask the pool to process stored events. Ingest's triggers are `fresh` (the events were just stored);
    the sweep's re-triggers are not, so the attempt they start is counted (see `process_events`)."""
    process_events_task.apply_async(
        (event_ids,), {"fresh": fresh}, argsrepr=f"[{len(event_ids)} event ids]", kwargsrepr=f"{{'fresh': {fresh}}}"
    )


@app.task(name="signal.process_events", bind=True)
def process_events_task(self: Task, event_ids: list[int], fresh: bool = False) -> int:
    """Map stored events into deliveries, then ask for a flush of each integration that got work."""
    # A redelivered trigger was being worked on when its worker died or lost the broker: count its tries.
    fresh = fresh and not (self.request.delivery_info or {}).get("redelivered", False)
    with sessions().begin() as session:
        touched = process_events(session, event_ids, fresh=fresh)
    for integration_id in sorted(touched):
        flush_integration_task.delay(integration_id)
    return len(touched)


@app.task(name="signal.flush_integration")
def flush_integration_task(integration_id: int) -> int:
    """Send an integration's queued deliveries to SendGrid (one flush at a time per integration)."""
    return flush_integration(sessions(), integration_id, client_for).requests


@app.task(name="signal.poll_imports")
def poll_imports_task() -> int:
    """Ask SendGrid whether accepted imports finished, and settle their deliveries."""
    return poll_imports(sessions(), client_for)


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


@app.task(name="signal.sweep")
def sweep_task() -> None:
    """Re-trigger work whose trigger was lost, flush due retries, expire held events."""
    with sessions().begin() as session:
        found = sweep(session, find_lost_triggers=not task_queue_backlog())
    if found.released_held:
        log.warning(
            "sweep released %s held deliveries whose visitor was already linked (the identity locks should "
            "have released them: please report this)",
            found.released_held,
        )
    for start in range(0, len(found.events_to_process), 1000):
        trigger_processing(found.events_to_process[start : start + 1000], fresh=False)
    for integration_id in found.integrations_to_flush:
        flush_integration_task.delay(integration_id)
