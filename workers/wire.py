"""The RabbitMQ wire contract (exchange datafly.events, queue signal.sendgrid.events) and publishing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kombu import Connection, Exchange, Producer, Queue

EXCHANGE_NAME = "datafly.events"
QUEUE_NAME = "signal.sendgrid.events"

events_exchange = Exchange(EXCHANGE_NAME, type="topic", durable=True)
# A quorum queue: replicated, and it survives a broker restart with every message it accepted.
events_queue = Queue(
    QUEUE_NAME,
    exchange=events_exchange,
    routing_key="#",
    durable=True,
    queue_arguments={"x-queue-type": "quorum"},
)


def connect(broker_url: str) -> Connection:
    # confirm_publish: publish() returns only once the broker has taken responsibility for the message.
    return Connection(broker_url, transport_options={"confirm_publish": True}, connect_timeout=5)


def declare(connection: Connection) -> None:
    channel = connection.default_channel
    events_exchange(channel).declare()
    events_queue(channel).declare()


@dataclass
class PublishReport:
    confirmed: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)


def parse_lines(lines: Iterable[str], report: PublishReport) -> Iterator[dict]:
    """Newline-delimited JSON events; a line that is not a JSON object is reported by its number."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError as e:
            report.bad_lines.append((number, f"not JSON ({e.msg} at column {e.colno})"))
            continue
        if not isinstance(event, dict):
            report.bad_lines.append((number, f"a JSON {type(event).__name__}, not an event object"))
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
