"""Publishing raw bodies fast (parallel publishers, unconfirmed), a paced publisher, and the bare-consumer ceiling."""

from __future__ import annotations

import json
import multiprocessing
import socket
import time

from kombu import Connection, Consumer, Producer

from workers.wire import declare, events_exchange, events_queue


def _publish_slice(args: tuple[str, list[tuple[str, bytes]]]) -> int:
    # No per-message confirm here: on a quorum queue each confirm waits for a Raft commit, which would make
    # the publishers, not the pipeline, the thing measured. wait_drained() checks every event arrived.
    # The channel's basic_publish, not Producer.publish: the load generator shares the machine's two cores
    # with the pipeline it measures, so it does as little per message as a publisher can.
    url, messages = args
    # py-amqp gives up on a socket the broker has not read from for 1 s (TCP_USER_TIMEOUT); under RabbitMQ's
    # flow control on a loaded machine a publisher waits longer than that, and should.
    with Connection(url, transport_options={"socket_settings": {socket.TCP_USER_TIMEOUT: 60_000}}) as conn:
        channel = conn.default_channel
        for message_id, body in messages:
            message = channel.prepare_message(
                body, content_type="application/json", content_encoding="utf-8",
                properties={"delivery_mode": 2, "message_id": message_id},
            )  # fmt: skip
            channel.basic_publish(message, exchange=events_exchange.name, routing_key="bench")
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

    Messages it received beyond `expected` (its prefetch) go back to the queue when its channel closes."""
    count = 0

    def on_message(message) -> None:
        nonlocal count
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


def queue_depth(url: str) -> int:
    with Connection(url) as conn:
        return events_queue(conn.default_channel).queue_declare(passive=True).message_count
