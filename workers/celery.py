"""The Celery app (`celery -A workers worker`): explicit queues, late acks, confirms, no results.

Celery messages are triggers only: the database holds the work, so a lost trigger costs latency, never data.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

TASK_QUEUE = "signal.sendgrid.tasks"

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
    # Flower and `celery events` need these.
    worker_send_task_events=True,
    task_send_sent_event=True,
    # A hung HTTP call must not hold a worker forever (the client has its own timeouts too).
    task_time_limit=300,
    task_soft_time_limit=240,
    worker_hijack_root_logger=False,
    beat_schedule={
        "poll-imports": {"task": "signal.poll_imports", "schedule": 2.0},
        "sweep": {"task": "signal.sweep", "schedule": 5.0},
        "retention": {"task": "signal.retention", "schedule": 60.0},
    },
)


def triggers_waiting(connection) -> int:
    """Triggers ready in the task queue, not counting those a worker already holds."""
    (queue,) = app.conf.task_queues
    return queue(connection.default_channel).queue_declare().message_count


if BROKER_URL.startswith("memory://"):
    # No broker: run tasks in the calling process (the demo and embedded mode).
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
