"""The ingest consumer (`signal-sendgrid ingest`): queue -> events table, in batches, ack after commit."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import amqp
from kombu import Connection, Consumer, Message
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from config.settings import hide_password
from workers.backoff import BROKER_RECONNECT, DATABASE_COMMIT
from workers.failures import Throttle, broker_error, broker_errors, database_error
from workers.ingest.inbox import MAX_MESSAGE_BYTES, Incoming, store_events
from workers.ingest.wire import declare, events_queue

log = logging.getLogger(__name__)

Trigger = Callable[[list[int]], None]

# Memory is bounded by bytes, not by message count. A batch ends at BATCH_BYTES of bodies: no more is read from
# the socket until it is stored and acked (what RabbitMQ sends meanwhile waits in the kernel's buffer and the
# broker). RabbitMQ counts its prefetch window in messages only, so the window is sized to two batches' bytes by
# the bodies' mean size, starting as if every body were MAX_MESSAGE_BYTES. A quorum queue applies a new
# prefetch_count only to a new consumer (basic.qos is per consumer; global qos is refused), so a change cancels
# the consumer and consumes again on the same channel: the deliveries already made are acked as usual.
BATCH_BYTES = 16 * 1024 * 1024


class IngestConsumer:
    """Drains `signal.sendgrid.events` in batches of up to `batch_size` messages, `batch_bytes` bytes of bodies
    or `batch_ms` milliseconds, with RabbitMQ's prefetch window sized to two batches' bytes.

    A batch is inserted in one statement (a repeated messageId is stored once), committed, and only then
    acked; then the process task is triggered. A crash before the commit leaves the messages unacked, so
    RabbitMQ redelivers them; a crash after it redelivers messages that the unique messageId absorbs.
    """

    def __init__(
        self,
        connection: Connection,
        sessions: sessionmaker[Session],
        trigger: Trigger,
        batch_size: int = 1000,
        batch_ms: int = 200,
        broker_url: str | None = None,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.connection = connection
        self.broker_url = broker_url  # named in failure lines (kombu's as_uri garbles a custom transport)
        self.sessions = sessions
        self.trigger = trigger
        self.batch_size = batch_size
        self.batch_ms = batch_ms
        self.batch_bytes = batch_bytes
        self.buffer: list[Message] = []
        self.buffered_bytes = 0
        self.prefetch = 0  # the consumer's prefetch_count (0: not consuming yet)
        self.stored = 0
        self.stop = threading.Event()
        self.connected = False
        self.broker_down = Throttle(log)
        self.database_down = Throttle(log)

    def on_message(self, message: Message) -> None:
        self.buffer.append(message)
        self.buffered_bytes += len(message.body)

    def prefetch_for(self, mean_size: float) -> int:
        """The window that keeps two batches' bytes on the way at this mean body size (at most two batches)."""
        return max(2, min(self.batch_size * 2, int(2 * self.batch_bytes // max(mean_size, 1))))

    def adapt_prefetch(self, consumer: Consumer, mean_size: float) -> None:
        """Smaller at once when bodies grow; larger only when worth a new consumer (twice the window or more)."""
        wanted = self.prefetch_for(mean_size)
        if (
            wanted * 4 < self.prefetch * 3
            or wanted >= self.prefetch * 2
            or wanted == self.batch_size * 2 > self.prefetch
        ):
            log.info("prefetch %d -> %d (bodies of %.0f bytes on average)", self.prefetch, wanted, mean_size)
            consumer.cancel()  # deliveries already on the way arrive before cancel-ok, into the buffer
            consumer.qos(prefetch_count=wanted)
            consumer.consume()
            self.prefetch = wanted

    def run(self, idle_exit_seconds: float | None = None) -> None:
        """Consume until stopped (or, with idle_exit_seconds, until the queue stayed empty that long).

        Without the broker it says so in one warning (again at most every 30 s) and retries, backing off from
        1 s to 30 s; the messages of an unfinished batch are unacked, so the broker redelivers them."""
        failures = 0
        while not self.stop.is_set():
            try:
                if self.consume(idle_exit_seconds):
                    return
            except broker_errors() as e:
                self.buffer.clear()  # unacked: the broker redelivers them
                self.buffered_bytes = 0
                if self.connected:
                    self.broker_down.reset()  # it was up: a new outage is worth a line at once
                    failures = 0
                self.broker_down.warning(
                    "%s; retrying (backoff up to 30 s)", broker_error(self.broker_url or "BROKER_URL", e)
                )
                self.connected = False
                if self.stop.wait(BROKER_RECONNECT.delay(failures)):
                    return
                failures += 1
                self.connection = self.connection.clone()

    def consume(self, idle_exit_seconds: float | None) -> bool:
        self.connection.ensure_connection(max_retries=1, interval_start=0.2)
        if not self.connected:
            log.info("connected to %s", hide_password(self.broker_url or "the broker"))
        self.connected = True
        channel = self.connection.channel()
        declare(self.connection)
        consumer = Consumer(channel, queues=[events_queue], on_message=self.on_message, no_ack=False)
        self.prefetch = self.prefetch_for(MAX_MESSAGE_BYTES)
        consumer.qos(prefetch_count=self.prefetch)
        last_message = time.monotonic()
        with consumer:
            while not self.stop.is_set():
                started = time.monotonic()
                # A batch ends at its size, its bytes, its time, or when the whole window has arrived.
                while len(self.buffer) < min(self.batch_size, self.prefetch) and self.buffered_bytes < self.batch_bytes:
                    left = self.batch_ms / 1000 - (time.monotonic() - started)
                    if left <= 0:
                        break
                    try:
                        self.connection.drain_events(timeout=left)
                    except TimeoutError:
                        break
                if self.buffer:
                    count, size = len(self.buffer), self.buffered_bytes
                    self.commit_batch()
                    last_message = time.monotonic()
                    if not self.stop.is_set():
                        self.adapt_prefetch(consumer, size / count)
                elif idle_exit_seconds is not None and time.monotonic() - last_message > idle_exit_seconds:
                    return True
        return False

    def commit_batch(self) -> None:
        batch, self.buffer, self.buffered_bytes = self.buffer, [], 0
        incoming = [Incoming(as_bytes(m.body), m.properties.get("message_id")) for m in batch]
        failures = 0
        while True:
            try:
                with self.sessions.begin() as session:
                    ids = store_events(session, incoming)
                self.database_down.reset()
                break
            except OperationalError as e:  # database down: keep the messages unacked and try again
                bind = getattr(self.sessions, "kw", {}).get("bind")
                url = bind.url.render_as_string(hide_password=False) if bind is not None else "DATABASE_URL"
                self.database_down.warning(
                    "storing %d events failed: %s; retrying (backoff up to 10 s)", len(batch), database_error(url, e)
                )
                if self.stop.wait(DATABASE_COMMIT.delay(failures)):
                    return
                failures += 1
        ack_all(batch)
        self.stored += len(batch)
        # With -v: what reliability runs count (redelivered = given again after a consumer died unacked).
        redelivered = sum(1 for m in batch if (m.delivery_info or {}).get("redelivered"))
        log.info("batch of %d messages (%d redelivered): %d new events to process", len(batch), redelivered, len(ids))
        for start in range(0, len(ids), 1000):
            try:
                self.trigger(ids[start : start + 1000])
            except Exception:  # the sweep finds events whose trigger was lost
                log.exception("could not trigger processing; the sweep will pick the events up")


def as_bytes(body: bytes | str) -> bytes:
    return body if isinstance(body, bytes) else body.encode("utf-8", errors="surrogateescape")


def ack_all(batch: list[Message]) -> None:
    last = batch[-1]
    if isinstance(last.channel, amqp.Channel) and last.channel.connection is not None:
        # One frame acks the whole batch: every earlier delivery tag on this channel is ours.
        last.channel.basic_ack(last.delivery_tag, multiple=True)
        for message in batch:
            message._state = "ACK"
    else:  # kombu's other transports (the embedded mode's memory://) ack one message at a time
        for message in batch:
            message.ack()
