"""The sweep re-triggers events whose trigger was lost, and leaves a backlog to the triggers still queued."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from kombu import Producer
from kombu.exceptions import OperationalError

from tests.factories import event
from workers import tasks
from workers.celery import TASK_QUEUE, app, task_exchange, triggers_waiting
from workers.ingest.inbox import Incoming, store_events
from workers.ingest.wire import connect
from workers.processing.sweep import sweep

pytestmark = pytest.mark.integration


def queue_trigger(broker_url: str) -> None:
    with connect(broker_url) as connection:
        (queue,) = app.conf.task_queues
        queue(connection.default_channel).declare()
        Producer(connection.default_channel, exchange=task_exchange).publish(
            {"waiting": True}, routing_key=TASK_QUEUE, serializer="json", delivery_mode=2
        )


def test_triggers_waiting_counts_what_is_ready_in_the_task_queue(clean_broker):
    with connect(clean_broker) as connection:
        assert triggers_waiting(connection) == 0
    queue_trigger(clean_broker)
    queue_trigger(clean_broker)
    with connect(clean_broker) as connection:
        assert triggers_waiting(connection) == 2


@pytest.fixture
def app_on():
    """Point the Celery app at a broker for one test (the suite's app runs eagerly on memory://)."""
    keys = ("task_always_eager", "broker_url", "broker_read_url", "broker_connection_timeout")
    saved = {k: app.conf[k] for k in keys}

    def use(url: str) -> None:
        app.conf.update(task_always_eager=False, broker_url=url, broker_read_url=None, broker_connection_timeout=1)

    yield use
    app.conf.update(saved)


def could_not_read(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The warnings task_queue_backlog logs when it could not read the queue (and answers False to re-trigger)."""
    return [r for r in caplog.records if r.name == tasks.log.name and "could not read the task queue" in r.message]


def test_the_sweep_task_sees_a_backlog_only_while_triggers_wait(clean_broker, app_on, caplog):
    caplog.set_level(logging.WARNING, logger=tasks.log.name)
    app_on(clean_broker)
    assert tasks.task_queue_backlog() is False
    assert could_not_read(caplog) == []  # the empty queue was read, not guessed
    queue_trigger(clean_broker)
    assert tasks.task_queue_backlog() is True


def test_a_broker_that_cannot_answer_means_re_trigger(app_on, caplog):
    """The same False as an empty queue, but reached by failing to read it: the warning with its cause says so."""
    caplog.set_level(logging.WARNING, logger=tasks.log.name)
    app_on("amqp://guest:guest@127.0.0.1:1//")
    assert tasks.task_queue_backlog() is False
    (warning,) = could_not_read(caplog)
    assert warning.exc_info is not None and isinstance(warning.exc_info[1], OperationalError), warning.exc_info


def test_waiting_events_are_re_triggered_only_when_no_trigger_is_queued(db):
    with db.begin() as session:
        ids = store_events(session, [Incoming(json.dumps(event("page", messageId=f"m{i}")).encode()) for i in range(3)])
    with db.begin() as session:
        assert sweep(session, lost_after=timedelta(0)).events_to_process == ids
    with db.begin() as session:
        assert sweep(session, lost_after=timedelta(0), find_lost_triggers=False).events_to_process == []
