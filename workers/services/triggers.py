"""The work a committed change asks for: a flush, processing, an erasure; sent after commit, never after rollback.

A trigger names ids only and is sent once the service's transaction has committed (`workers.tasks.after_commit`);
a trigger that cannot be sent is logged there and costs latency only: beat's sweep finds the work in the
database. Whether work runs on the pool or in this process (the embedded mode, no broker) is decided here alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session


def runs_inline() -> bool:
    """Without a broker (BROKER_URL memory://) Celery runs every task eagerly, in the process that sends it."""
    from workers.celery import app

    return bool(app.conf.task_always_eager)


def flush(session: Session, integration_ids: Iterable[int]) -> None:
    """Flush these integrations once `session` commits (nothing when there are none)."""
    from workers.tasks import after_commit, trigger_flush

    ids = sorted(set(integration_ids))
    if ids:
        after_commit(session, lambda: trigger_flush(ids))


def processing_now(event_ids: list[int]) -> None:
    """Process events their caller stored and committed itself (the ingest consumer commits and acks each batch,
    then calls this): sent at once."""
    from workers.tasks import trigger_processing

    trigger_processing(event_ids)


def erasure(session: Session, erasure_id: int, run_here: Callable[[], None] | None = None) -> None:
    """Run an erasure once `session` commits: on the pool; without a broker, `run_here` (the caller's way of
    running it in this process, for example a thread so that a request returns at once) when given."""
    from workers.tasks import after_commit, trigger_erasure

    if run_here is not None and runs_inline():
        after_commit(session, run_here)
    else:
        after_commit(session, lambda: trigger_erasure(erasure_id))
