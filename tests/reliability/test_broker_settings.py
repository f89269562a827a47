"""Issue #7, settings: what the other reliability tests depend on is set explicitly, and behaves as documented."""

from __future__ import annotations

import subprocess
import time
from urllib.parse import urlsplit

import pytest
from kombu import Connection, Producer

from workers.celery import TASK_QUEUE, app
from workers.ingest.wire import DEAD_QUEUE_NAME, DELIVERY_LIMIT, QUEUE_NAME, connect, declare, events_exchange

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_celery_settings_that_guard_against_loss_are_explicit():
    conf = app.conf
    assert conf.task_acks_late is True  # ack after the task ran: a worker killed mid-task loses no trigger
    assert conf.task_reject_on_worker_lost is True  # ... and the trigger goes back to the queue
    assert conf.task_acks_on_failure_or_timeout is True  # a raising task does not loop: the sweep re-finds work
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["confirm_publish"] is True  # .delay() returns once RabbitMQ has it
    (queue,) = conf.task_queues
    assert queue.name == TASK_QUEUE and queue.durable
    assert queue.queue_arguments == {"x-queue-type": "quorum", "x-delivery-limit": 5}


def broker_queues(broker_url: str) -> dict[str, tuple[str, str]]:
    vhost = urlsplit(broker_url).path.lstrip("/") or "/"
    done = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type", "durable", "arguments"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()[1:] if line.strip()]
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_the_events_queue_is_a_durable_quorum_queue_that_dead_letters(clean_broker):
    queues = broker_queues(clean_broker)
    kind, durable, arguments = queues[QUEUE_NAME]
    assert (kind, durable) == ("quorum", "true")
    for expected in ('"x-delivery-limit",20', '"x-dead-letter-exchange","datafly.events.dead"',
                     '"x-dead-letter-strategy","at-least-once"', '"x-overflow","reject-publish"'):  # fmt: skip
        assert expected in arguments
    assert queues[DEAD_QUEUE_NAME][:2] == ("quorum", "true")


def test_a_message_that_kills_its_consumer_every_time_is_dead_lettered_not_looped(clean_broker, figures):
    with connect(clean_broker) as connection:
        declare(connection)
        channel = connection.default_channel
        channel.queue_purge(DEAD_QUEUE_NAME)
        Producer(channel, exchange=events_exchange).publish(
            b'{"messageId":"killer"}', routing_key="identify", content_type="application/json", delivery_mode=2
        )
    deliveries = 0
    with Connection(clean_broker) as conn:
        for _ in range(DELIVERY_LIMIT + 5):
            channel = conn.channel()
            message = channel.basic_get(QUEUE_NAME, no_ack=False)
            if message is None:
                break
            deliveries += 1
            channel.close()  # the consumer "dies" holding the message unacked: RabbitMQ takes it back
        dead, deadline = 0, time.monotonic() + 15  # at-least-once dead-lettering is asynchronous
        while not dead and time.monotonic() < deadline:
            dead = conn.channel().queue_declare(DEAD_QUEUE_NAME, passive=True).message_count
            time.sleep(0.2)
        conn.channel().queue_purge(DEAD_QUEUE_NAME)  # the virtual host is shared by this run's later tests
    figures.update(delivery_limit=DELIVERY_LIMIT, deliveries_before_set_aside=deliveries, dead_lettered=dead)
    assert deliveries == DELIVERY_LIMIT + 1  # the first delivery, then the limit's redeliveries
    assert dead == 1
