"""Publishing raw bodies fast (parallel publishers, confirms streamed), a paced publisher, and the bare-consumer
ceiling."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import socket
import time

from kombu import Connection, Consumer, Producer

from workers.ingest.wire import declare, events_exchange, events_queue


def _publish_slice(args: tuple[str, list[tuple[str, bytes]]]) -> int:
    # Confirms streamed, not awaited one by one: on a quorum queue each confirm waits for a Raft commit, and a
    # publisher that waited for each would be the thing measured. Unconfirmed, the broker dropped the messages
    # still in flight when a publisher closed its connection (1.4% of a 3,000-event run). So every message is
    # published at once, the broker's acks are read as they come, and the publisher ends when all are acked.
    # The channel's basic_publish, not Producer.publish: the load generator shares the machine's two cores
    # with the pipeline it measures, so it does as little per message as a publisher can.
    url, messages = args
    acked = 0

    def on_ack(delivery_tag: int, multiple: bool) -> None:
        nonlocal acked
        acked = max(acked, delivery_tag) if multiple else acked + 1

    def on_nack(delivery_tag: int, multiple: bool) -> None:
        raise RuntimeError(f"the broker refused message {delivery_tag}")

    # py-amqp gives up on a socket the broker has not read from for 1 s (TCP_USER_TIMEOUT); under RabbitMQ's
    # flow control on a loaded machine a publisher waits longer than that, and should.
    with Connection(url, transport_options={"socket_settings": {socket.TCP_USER_TIMEOUT: 60_000}}) as conn:
        channel = conn.default_channel
        channel.confirm_select()
        channel.events["basic_ack"].add(on_ack)
        channel.events["basic_nack"].add(on_nack)
        for n, (message_id, body) in enumerate(messages, 1):
            message = channel.prepare_message(
                body, content_type="application/json", content_encoding="utf-8",
                properties={"delivery_mode": 2, "message_id": message_id},
            )  # fmt: skip
            channel.basic_publish(message, exchange=events_exchange.name, routing_key="bench")
            if n % 1000 == 0:  # read the acks that arrived meanwhile, so they never pile up in the socket
                with contextlib.suppress(TimeoutError):
                    while True:
                        conn.drain_events(timeout=0)
        while acked < len(messages):
            conn.drain_events(timeout=60)
    return len(messages)


def publish(url: str, bodies: list[bytes], publishers: int = 4) -> float:
    """Publish every body from `publishers` processes (each messageId read before the clock starts); returns
    the seconds it took."""
    with Connection(url) as conn:
        declare(conn)
    messages = [(json.loads(body)["messageId"], body) for body in bodies]
    slices = [(url, messages[i::publishers]) for i in range(publishers)]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(publishers) as pool:
        assert sum(pool.map(_publish_slice, slices)) == len(bodies)
    return time.perf_counter() - started


def publish_paced(url: str, bodies: list[bytes], rate: float) -> dict[str, float]:
    """Publish at a fixed rate; returns messageId -> epoch time of its publish."""
    sent: dict[str, float] = {}
    with Connection(url, transport_options={"confirm_publish": True}) as conn:
        declare(conn)
        producer = Producer(conn.default_channel, exchange=events_exchange)
        started = time.perf_counter()
        for n, body in enumerate(bodies):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            message_id = json.loads(body)["messageId"]
            sent[message_id] = time.time()
            producer.publish(body, routing_key="bench", content_type="application/json",
                             delivery_mode=2, message_id=message_id)  # fmt: skip
    return sent


def bare_drain(url: str, expected: int, timeout: float = 600) -> float:
    """Drain `expected` messages from the events queue with a plain kombu consumer; returns messages/s.

    Messages it received beyond `expected` (its prefetch) are not acked: they go back to the queue when its
    channel closes, for the next drain. (Acking them too, as this did before, consumed up to a prefetch more
    than counted, so the last of three drains ran the queue dry and timed an idle wait: it mostly read about
    half the others.)"""
    count = 0

    def on_message(message) -> None:
        nonlocal count
        if count < expected:
            count += 1
            message.ack()

    with Connection(url) as conn:
        consumer = Consumer(conn.channel(), queues=[events_queue], on_message=on_message)
        consumer.qos(prefetch_count=1000)
        with consumer:
            conn.drain_events(timeout=30)  # the first message starts the clock
            started = time.perf_counter()
            first = count
            deadline = started + timeout
            while count < expected and time.perf_counter() < deadline:
                try:
                    conn.drain_events(timeout=5)
                except TimeoutError:
                    break
            elapsed = time.perf_counter() - started
    return (count - first) / elapsed if elapsed > 0 else 0.0


def bare_drains(url: str, total: int, rounds: int = 3) -> list[float]:
    """The queue's `total` messages drained in `rounds` equal parts, a fresh consumer each: one drain rate
    varies by half from run to run on this machine, so the ceiling is the median of several."""
    rates = [bare_drain(url, total // rounds) for _ in range(rounds - 1)]
    return [*rates, bare_drain(url, total - (rounds - 1) * (total // rounds))]
