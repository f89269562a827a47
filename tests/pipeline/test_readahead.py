"""The ingest consumer's read-ahead AMQP transport: frames cut from a buffer, whatever way the bytes arrive."""

from __future__ import annotations

import json
import random
import socket
import struct
import threading

import pytest
from amqp.exceptions import UnexpectedFrame
from kombu import Consumer

from workers.ingest.transport import READ_AHEAD, ReadAheadTCPTransport, ReadAheadTransport
from workers.ingest.wire import connect, connect_consumer, declare, events_queue, publish_events


def frame(frame_type: int, channel: int, payload: bytes, end: int = 0xCE) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + bytes([end])


@pytest.fixture
def wire():
    """A transport reading one end of a socket pair; the test writes the broker's bytes into the other."""
    ours, broker = socket.socketpair()
    transport = ReadAheadTCPTransport.__new__(ReadAheadTCPTransport)
    transport.sock, transport.connected, transport.raise_on_initial_eintr = ours, True, True
    transport._setup_transport()
    ours.settimeout(0.2)
    yield transport, broker
    ours.close()
    broker.close()


def test_frames_split_anywhere_and_across_timeouts_come_out_whole(wire):
    transport, broker = wire
    frames = [(1, 1, b"m" * 20), (2, 1, b"h" * 14), (3, 1, random.Random(3).randbytes(3000)), (8, 0, b"")]
    data = b"".join(frame(*f) for f in frames)
    for cut in (3, 7, 30, 31, 60, 2000):  # inside a header, at its end, inside a payload, at the end octet...
        broker.sendall(data[:cut])
        got = []
        while True:
            try:
                got.append(transport.read_frame())
            except TimeoutError:  # the rest has not arrived: nothing read so far may be lost
                break
        broker.sendall(data[cut:])
        while len(got) < len(frames):
            got.append(transport.read_frame())
        assert got == frames, cut
        with pytest.raises(TimeoutError):
            transport.read_frame()


def test_many_frames_in_one_read_and_one_frame_larger_than_the_read_ahead(wire):
    transport, broker = wire
    big = random.Random(5).randbytes(READ_AHEAD * 2 + 17)
    frames = [(3, 1, f"body {i}".encode()) for i in range(500)] + [(3, 1, big), (3, 2, b"after")]
    sender = threading.Thread(target=broker.sendall, args=(b"".join(frame(*f) for f in frames),))
    sender.start()
    assert [transport.read_frame() for _ in frames] == frames
    sender.join()


def test_a_bad_frame_end_and_a_closed_socket_are_errors(wire):
    transport, broker = wire
    broker.sendall(frame(1, 1, b"x", end=0x00))
    with pytest.raises(UnexpectedFrame):
        transport.read_frame()
    broker.close()
    with pytest.raises(OSError, match="unexpectedly closed"):
        transport.read_frame()
    assert transport.connected is False


@pytest.mark.integration
def test_a_real_broker_delivers_every_body_intact_through_it(clean_broker):
    rng = random.Random(11)
    events = [{"messageId": f"r{i}", "type": "page", "pad": "x" * rng.choice([10, 900, 5000, 300_000])}
              for i in range(200)]  # fmt: skip
    with connect(clean_broker) as connection:
        declare(connection)
        assert publish_events(connection, events) == len(events)
    received = []

    def on_message(message) -> None:
        received.append(message)
        message.ack()

    with connect_consumer(clean_broker) as connection:
        assert isinstance(connection.transport, ReadAheadTransport)
        consumer = Consumer(connection.channel(), queues=[events_queue], on_message=on_message)
        consumer.qos(prefetch_count=50)
        with consumer:
            while len(received) < len(events):
                connection.drain_events(timeout=5)
            with pytest.raises(TimeoutError):  # an idle queue times out, and the connection goes on working
                connection.drain_events(timeout=0.3)
            with connect(clean_broker) as publisher:
                publish_events(publisher, [{"messageId": "late", "type": "page"}])
            connection.drain_events(timeout=5)
    assert [json.loads(m.body) for m in received] == [*events, {"messageId": "late", "type": "page"}]
