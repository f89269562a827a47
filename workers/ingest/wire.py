"""The RabbitMQ wire contract (exchange datafly.events, queue signal.sendgrid.events) and publishing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from kombu import Connection, Exchange, Producer, Queue

from workers.ingest import json_limits
from workers.ingest.transport import ReadAheadTransport

EXCHANGE_NAME = "datafly.events"
QUEUE_NAME = "signal.sendgrid.events"

DEAD_EXCHANGE_NAME = "datafly.events.dead"
DEAD_QUEUE_NAME = "signal.sendgrid.events.dead"
# How often one message may be handed to a consumer that then died without acking it (SIGKILL, OOM, a lost
# connection) before RabbitMQ sets it aside. High, because every message of a batch in flight counts a crash
# (up to the prefetch window), and ordinary crashes must never set a good event aside; finite, because a body
# that kills the consumer every time must not block the queue forever. Changing a quorum queue's arguments
# makes its redeclaration fail with PRECONDITION_FAILED: see docs/reliability.md, "Migrating the queue".
DELIVERY_LIMIT = 20

events_exchange = Exchange(EXCHANGE_NAME, type="topic", durable=True)
dead_exchange = Exchange(DEAD_EXCHANGE_NAME, type="fanout", durable=True)
# A quorum queue: replicated, and it survives a broker restart with every message it accepted.
events_queue = Queue(
    QUEUE_NAME,
    exchange=events_exchange,
    routing_key="#",
    durable=True,
    queue_arguments={
        "x-queue-type": "quorum",
        # Poison for the consumer itself: after DELIVERY_LIMIT deliveries the message is dead-lettered ...
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_EXCHANGE_NAME,
        # ... at least once (the dead queue confirms it before the events queue drops it), not the quorum
        # default of at most once; at-least-once dead-lettering requires reject-publish overflow (no length
        # limit is set, so publishers never see a reject for it).
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    },
)
# Where set-aside messages wait for a person: durable and quorum, so they survive restarts too. Replay them
# with a shovel (or `rabbitmqadmin`) back to datafly.events once the cause is fixed; messageIds make it safe.
dead_queue = Queue(
    DEAD_QUEUE_NAME, exchange=dead_exchange, routing_key="", durable=True, queue_arguments={"x-queue-type": "quorum"}
)


def connect(broker_url: str) -> Connection:
    # confirm_publish: publish() returns only once the broker has taken responsibility for the message.
    return Connection(broker_url, transport_options={"confirm_publish": True}, connect_timeout=5)


def connect_consumer(broker_url: str) -> Connection:
    """The ingest consumer's connection: over plain AMQP it reads the socket ahead (workers/readahead.py)."""
    if broker_url.split("://", 1)[0] not in ("amqp", "pyamqp"):
        return connect(broker_url)  # amqps:// (py-amqp's TLS transport) and the embedded memory://
    return Connection(broker_url, transport=ReadAheadTransport, transport_options={"confirm_publish": True},
                      connect_timeout=5)  # fmt: skip


def declare(connection: Connection) -> None:
    channel = connection.default_channel
    events_exchange(channel).declare()
    dead_exchange(channel).declare()
    dead_queue(channel).declare()  # before the events queue, so nothing is dead-lettered into the void
    events_queue(channel).declare()


@dataclass
class PublishReport:
    confirmed: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)


def parse_lines(
    lines: Iterable[str], report: PublishReport, check: Callable[[dict], str | None] = lambda event: None
) -> Iterator[dict]:
    """Newline-delimited JSON events; a line that is not a JSON object, or that `check` refuses (it returns
    the reason), is reported by its number."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json_limits.loads(line)
        except json_limits.NumberRefused as e:
            report.bad_lines.append((number, f"refused: {e}"))
            continue
        except ValueError as e:
            report.bad_lines.append((number, f"not JSON ({e.msg} at column {e.colno})"))
            continue
        if not isinstance(event, dict):
            report.bad_lines.append((number, f"a JSON {type(event).__name__}, not an event object"))
            continue
        problem = check(event)
        if problem:
            report.bad_lines.append((number, problem))
            continue
        yield event


def publish_events(connection: Connection, events: Iterable[dict], report: PublishReport | None = None) -> int:
    """Publish events per the wire contract; returns how many the broker confirmed."""
    report = report or PublishReport()
    producer = Producer(connection.default_channel, exchange=events_exchange)
    for event in events:
        body = json.dumps(event, separators=(",", ":"), default=str).encode()
        message_id = event.get("messageId")
        producer.publish(
            body,
            routing_key=str(event.get("type") or "unknown"),
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            message_id=str(message_id) if message_id is not None else None,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
        )
        report.confirmed += 1
    return report.confirmed
