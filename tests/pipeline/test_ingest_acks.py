"""Ingest acks a stored batch with one AMQP frame (basic.ack multiple=True), on a real RabbitMQ."""

from __future__ import annotations

import amqp
import pytest
from sqlalchemy import func, select

from models import Event
from tests.factories import identify
from workers.ingest.consumer import IngestConsumer
from workers.ingest.wire import connect, connect_consumer, declare, events_queue, publish_events

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
    assert acks == [(50, True)]  # one frame for the whole batch (delivery tags count from 1 on the channel)
    assert sum(len(ids) for ids in triggered) == 50
    with connect(clean_broker) as connection:  # acked, not merely consumed: nothing comes back on close
        assert events_queue(connection.default_channel).queue_declare(passive=True).message_count == 0
