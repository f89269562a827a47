"""Ingest's memory is bounded by bytes, not by message count (issue 21): with 2,000 messages of 1 MiB waiting in
RabbitMQ (the test's own vhost), the real `signal-sendgrid ingest` process keeps its RSS under 300 MB.

Its memory is a batch's worth (16 MiB of bodies) whatever waits, so the peak is reached within the first batches;
the test measures while the first MEASURED messages are stored (about 30 batches) to stay fast. PostgreSQL
takes about 35 ms per 1 MiB JSONB row on the 2-core test machine: the whole drain takes about a minute (measured
once: peak 194 MB, docs/reliability.md). Before the byte bound the peak was 680 MB."""

from __future__ import annotations

import json
import time

import amqp
import psutil
import pytest
from kombu import Connection
from sqlalchemy import func, select

from models import Event, EventStatus
from tests.factories import identify
from workers.ingest.inbox import MAX_MESSAGE_BYTES
from workers.ingest.wire import EXCHANGE_NAME, declare, events_queue

pytestmark = pytest.mark.integration

MESSAGES = 2000
MEASURED = 500
RSS_LIMIT = 300 * 1024 * 1024
WINDOW = 256  # unconfirmed messages at a time: the broker writes them in groups, no round trip each


def one_mib(n: int) -> bytes:
    """An identify of exactly MAX_MESSAGE_BYTES (the largest body ingest stores), padded with one long trait."""
    event = identify(f"big{n}@example.com", f"u-big{n}", notes="")
    event["messageId"] = f"one-mib-{n:05d}"
    empty = json.dumps(event).encode()
    event["traits"]["notes"] = "n" * (MAX_MESSAGE_BYTES - len(empty))
    body = json.dumps(event).encode()
    assert len(body) == MAX_MESSAGE_BYTES
    return body


def publish_confirmed(broker_url: str, count: int) -> None:
    """Publish on a confirm channel, keeping WINDOW messages unconfirmed (py-amqp's basic_publish would wait for
    each confirm in turn)."""
    with Connection(broker_url) as conn:
        declare(conn)
        channel: amqp.Channel = conn.connection.channel()
        confirmed = 0

        def on_ack(delivery_tag: int, multiple: bool) -> None:
            nonlocal confirmed
            confirmed = delivery_tag if multiple else confirmed + 1

        channel.events["basic_ack"].add(on_ack)
        channel.events["basic_nack"].add(lambda *args: pytest.fail(f"the broker refused a message: {args}"))
        channel.confirm_select()
        for n in range(count):
            message = amqp.Message(one_mib(n), content_type="application/json", delivery_mode=2,
                                   message_id=f"one-mib-{n:05d}")  # fmt: skip
            channel._basic_publish(message, exchange=EXCHANGE_NAME, routing_key="identify")
            while n + 1 - confirmed > WINDOW:
                conn.connection.drain_events(timeout=30)
        while confirmed < count:
            conn.connection.drain_events(timeout=30)
        channel.close()
        assert events_queue(conn.default_channel).queue_declare(passive=True).message_count == count


def test_ingest_rss_stays_under_300_mb_while_2000_messages_of_1_mib_drain(
    db, clean_broker, service_env, processes, figures
):
    started = time.monotonic()
    publish_confirmed(clean_broker, MESSAGES)
    figures["publish_seconds"] = round(time.monotonic() - started, 1)

    ingest = psutil.Process(processes.ingest().pid)
    peak, stored, began = 0, 0, time.monotonic()
    while stored < MEASURED:
        assert ingest.is_running() and ingest.status() != psutil.STATUS_ZOMBIE, "ingest exited"
        assert time.monotonic() - began < 60, f"only {stored} of {MEASURED} stored after 60 s"
        peak = max(peak, ingest.memory_info().rss)
        with db() as session:
            stored = session.scalar(select(func.count()).select_from(Event).where(Event.status == EventStatus.RECEIVED))
        time.sleep(0.05)
    figures[f"seconds_to_store_{MEASURED}"] = round(time.monotonic() - began, 1)
    figures["peak_rss_mb"] = round(peak / 1024 / 1024, 1)
    assert peak < RSS_LIMIT, f"ingest's RSS peaked at {peak / 1024 / 1024:.0f} MB"
