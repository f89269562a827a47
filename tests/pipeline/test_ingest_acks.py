"""Ingest on a real RabbitMQ: a stored batch acked with one AMQP frame (basic.ack multiple=True); batches and the
prefetch window bounded by bytes; a body over 1 MiB rejected with a reason while ingest goes on."""

from __future__ import annotations

import hashlib
import json

import amqp
import pytest
from kombu import Producer
from sqlalchemy import func, select

from models import Event, EventStatus
from tests.factories import identify
from workers.ingest import consumer as consumer_module
from workers.ingest.consumer import IngestConsumer
from workers.ingest.wire import connect, connect_consumer, declare, events_exchange, events_queue, publish_events

pytestmark = pytest.mark.integration


def test_a_batch_is_acked_with_one_frame_and_nothing_stays_unacked(db, clean_broker, monkeypatch):
    acks = []
    real_ack = amqp.Channel.basic_ack

    def basic_ack(channel, delivery_tag, multiple=False, **kwargs):
        acks.append((delivery_tag, multiple))
        return real_ack(channel, delivery_tag, multiple=multiple, **kwargs)

    monkeypatch.setattr(amqp.Channel, "basic_ack", basic_ack)
    with connect(clean_broker) as connection:
        declare(connection)
        assert publish_events(connection, [identify(f"a{i}@example.com", f"a{i}") for i in range(50)]) == 50
    triggered = []
    consumer = IngestConsumer(connect_consumer(clean_broker), db, triggered.append, batch_size=100, batch_ms=500)
    consumer.run(idle_exit_seconds=1.0)
    consumer.connection.release()

    with db() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 50
    # One frame for each batch (delivery tags count from 1 on the channel). The first window assumes bodies of
    # the largest size stored (32 of 1 MiB: two batches of 16 MiB); seeing small ones, it grows to 200.
    assert acks == [(32, True), (50, True)]
    assert consumer.prefetch == 200
    assert sum(len(ids) for ids in triggered) == 50
    with connect(clean_broker) as connection:  # acked, not merely consumed: nothing comes back on close
        assert events_queue(connection.default_channel).queue_declare(passive=True).message_count == 0


def published_bodies(broker_url: str, bodies: list[tuple[bytes, str]]) -> None:
    with connect(broker_url) as connection:
        declare(connection)
        producer = Producer(connection.default_channel, exchange=events_exchange)
        for body, message_id in bodies:
            producer.publish(body, routing_key="identify", content_type="application/json", message_id=message_id)


def test_batches_and_the_prefetch_window_are_bounded_by_bytes(db, clean_broker, monkeypatch):
    batches: list[int] = []
    real_store = consumer_module.store_events

    def store_events(session, incoming):
        batches.append(sum(len(m.body) for m in incoming))
        return real_store(session, incoming)

    monkeypatch.setattr(consumer_module, "store_events", store_events)
    padding = "p" * 100_000
    bodies = [(json.dumps(identify(f"b{i}@example.com", f"b{i}", notes=padding)).encode(), f"b{i}") for i in range(60)]
    published_bodies(clean_broker, bodies)
    size = len(bodies[0][0])
    consumer = IngestConsumer(connect_consumer(clean_broker), db, lambda ids: None, batch_size=1000, batch_ms=500,
                              batch_bytes=1024 * 1024)  # fmt: skip
    consumer.run(idle_exit_seconds=1.0)
    consumer.connection.release()

    with db() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 60
    assert batches[0] == 2 * size  # the first window: two batches' bytes (2 MiB) if bodies were 1 MiB each
    assert max(batches) <= 1024 * 1024 + size  # a batch ends once it holds 1 MiB
    assert consumer.prefetch == 2 * 1024 * 1024 // size  # then two batches' bytes at the bodies' size: 20


def test_a_body_over_1_mib_is_rejected_with_its_size_not_kept_and_ingest_goes_on(db, clean_broker):
    big = json.dumps(identify("big@example.com", "u-big", notes="x" * 2 * 1024 * 1024)).encode()
    after = identify("after@example.com", "u-after")
    published_bodies(clean_broker, [(big, "m-big"), (json.dumps(after).encode(), after["messageId"])])
    triggered: list[int] = []
    consumer = IngestConsumer(connect_consumer(clean_broker), db, triggered.extend, batch_ms=200)
    consumer.run(idle_exit_seconds=1.0)
    consumer.connection.release()

    with db() as session:
        events = {e.status: e for e in session.scalars(select(Event))}
    rejected = events[EventStatus.REJECTED]
    assert rejected.reason == f"body is {len(big):,} bytes, over the 1,048,576-byte limit (not kept)"
    assert rejected.raw_body is None and rejected.payload is None
    assert rejected.message_id == "sha256:" + hashlib.sha256(big).hexdigest()  # m-big stays free for a re-send
    assert events[EventStatus.RECEIVED].message_id == after["messageId"]
    assert triggered == [events[EventStatus.RECEIVED].id]
