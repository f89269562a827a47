"""The Celery app (`celery -A workers worker`): explicit queues, late acks, confirms, no results.

Celery messages are triggers only: the database holds the work, so a lost trigger costs latency, never data.
"""

from __future__ import annotations

import logging
import os

from celery import Celery
from kombu import Exchange, Queue

from workers.failures import ThrottleFilter

TASK_QUEUE = "signal.sendgrid.tasks"
# Beat's periodic tasks: they run every few seconds whether or not there is work, so an idle worker stays
# quiet (their runs are logged at DEBUG, and they send no task events: Flower lists the real work).
HOUSEKEEPING = frozenset({"signal.sweep", "signal.poll_imports", "signal.retention"})

# Read directly, not through load_settings(): a bad DATABASE_URL must reach the CLI's one-line error,
# not fail this import. The CLI validates BROKER_URL before it uses it.
BROKER_URL = os.environ.get("BROKER_URL") or "memory://"
app = Celery("signal-sendgrid", broker=BROKER_URL, include=["workers.tasks"])

task_exchange = Exchange("signal.sendgrid", type="direct", durable=True)

app.conf.update(
    task_queues=[
        # Quorum: a trigger survives a broker restart. Delivery limit: a trigger that kills its worker every
        # time is dropped after 5 deliveries (the sweep re-finds its work, and the event's own attempt counter
        # sets it aside as failed), so it cannot loop forever.
        Queue(
            TASK_QUEUE,
            exchange=task_exchange,
            routing_key=TASK_QUEUE,
            durable=True,
            queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": 5},
        )
    ],
    task_default_queue=TASK_QUEUE,
    task_default_exchange=task_exchange.name,
    task_default_routing_key=TASK_QUEUE,
    task_serializer="json",
    accept_content=["json"],
    # No result backend: the database records outcomes.
    task_ignore_result=True,
    # Ack after the task ran, and give the message back if the worker process died mid-task,
    # so a SIGKILLed worker loses no trigger.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    # A task that raised is acked, not requeued: a failing trigger must not loop; its work stays in the
    # database, where the sweep finds it again and the event's attempt counter bounds it (poison -> failed).
    task_acks_on_failure_or_timeout=True,
    # One message at a time per process: late acks with a big prefetch would hold triggers hostage.
    worker_prefetch_multiplier=1,
    # Publisher confirms: .delay() returns only when RabbitMQ has the trigger.
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
    # Flower and `celery events` need these. No task-sent events: they cannot be switched off per task, and
    # the housekeeping tasks' (which send no worker events) would sit in Flower as SENT forever.
    worker_send_task_events=True,
    task_send_sent_event=False,
    # A hung HTTP call must not hold a worker forever (the client has its own timeouts too).
    task_time_limit=300,
    task_soft_time_limit=240,
    worker_hijack_root_logger=False,
    # A broker outage is one line per 30 s, not a traceback per due task (workers/beat.py).
    beat_scheduler="workers.beat:Scheduler",
    beat_schedule={
        "poll-imports": {"task": "signal.poll_imports", "schedule": 2.0},
        "sweep": {"task": "signal.sweep", "schedule": 5.0},
        "retention": {"task": "signal.retention", "schedule": 60.0},
    },
)


class QuietHousekeeping(logging.Filter):
    """Celery's own INFO lines about a housekeeping task (beat sending it, the worker receiving it, its success)
    become DEBUG: shown with `-l DEBUG`, not every two seconds at INFO. The tasks log what they did at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        args = record.args
        names = [args.get("name")] if isinstance(args, dict) else list(args or ())
        if not any(name in HOUSEKEEPING for name in names if isinstance(name, str)):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


# The loggers of beat's "Sending due task", the worker's "received" and the tracer's "succeeded".
for _name in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
    logging.getLogger(_name).addFilter(QuietHousekeeping())


# Broker outages: Celery logs "Connection to broker lost", then its "Cannot connect ... Trying again in 2.00
# seconds" (two lines, with the retry count) at every retry, and once the broker is back a CRITICAL traceback for
# each ack that was due on the lost connection (the message comes again: the late ack never reached RabbitMQ).
# One line at most every 30 s for all of them says the same (workers/failures.py). Beat's: workers/beat.py.
logging.getLogger("celery.worker.consumer.consumer").addFilter(
    ThrottleFilter(
        ("consumer: Connection to broker lost", "consumer: Cannot connect", "Couldn't ack", "Couldn't reject")
    )
)
logging.getLogger("celery.beat").addFilter(ThrottleFilter(("beat: Connection error",)))


class NoCancelNotice(logging.Filter):
    """Celery 5 warns at every lost connection, in nine lines, that 6.0 will cancel the running late-ack tasks
    (`worker_cancel_long_running_tasks_on_connection_loss`). We keep 5's behaviour on purpose: a running task
    finishes its transaction, and its trigger, unacked, comes back and finds nothing left to do. The warning is
    Python's (captured into the "py.warnings" logger after Celery's own `filterwarnings("always")`), so it is
    dropped here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "worker_cancel_long_running_tasks_on_connection_loss" not in record.getMessage()


app.conf.worker_cancel_long_running_tasks_on_connection_loss = False
logging.getLogger("py.warnings").addFilter(NoCancelNotice())


def triggers_waiting(connection) -> int:
    """Triggers ready in the task queue, not counting those a worker already holds."""
    (queue,) = app.conf.task_queues
    return queue(connection.default_channel).queue_declare().message_count


if BROKER_URL.startswith("memory://"):
    # No broker: run tasks in the calling process (the demo and embedded mode).
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
