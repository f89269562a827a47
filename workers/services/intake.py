"""Event intake: what POST /v1/events and `signal-sendgrid publish` check of an event (its envelope), reading
one event or a batch from a request body, and publishing it with publisher confirms.

All or nothing: when any event of a batch is invalid, none is published and the answer names each invalid
one, so a producer can fix and re-send the whole batch without creating a partial, hard-to-track state.
"""

from __future__ import annotations

import logging
import threading

from kombu import Connection
from marshmallow import Schema, ValidationError, fields, validate

from config.settings import hide_password
from workers.failures import Throttle
from workers.ingest import json_limits
from workers.ingest.wire import connect, declare, publish_events
from workers.services.install_body import StrictSchema, printable

log = logging.getLogger(__name__)
_broker_down = Throttle(log)  # an outage: one line, then at most every 30 s, not one per request

MAX_BATCH = 500  # events per POST /v1/events


def shortstr(value: str) -> None:
    """An AMQP short string (message id, routing key) holds at most 255 bytes."""
    if len(value.encode("utf-8", "surrogatepass")) > 255:
        raise ValidationError("must be at most 255 bytes in UTF-8")


class EventEnvelopeSchema(Schema):
    """What the API checks of an event; everything else is the pipeline's to validate and record."""

    class Meta:
        unknown = "include"

    # AMQP shortstr limits (255 bytes) and the inbox's message id column (200 characters).
    messageId = fields.String(  # noqa: N815 - the wire name
        required=True, validate=[validate.Length(min=1, max=200), printable, shortstr]
    )
    type = fields.String(required=True, validate=[validate.Length(min=1, max=100), printable, shortstr])


class EventBatchSchema(StrictSchema):
    batch = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_BATCH))


def envelope_problem(event: dict) -> str | None:
    """What POST /v1/events refuses of an event, in one line (None: nothing): `publish` refuses it with the
    same words."""
    errors = EventEnvelopeSchema().validate(event)
    return "; ".join(f"{field}: {' '.join(map(str, problems))}" for field, problems in errors.items()) or None


class InvalidEvents(Exception):
    """The body is not one event or a batch of valid events; `errors` says where, field by field."""

    def __init__(self, message: str, errors: dict) -> None:
        super().__init__(message)
        self.errors = errors


class BrokerUnavailable(Exception):
    """The broker did not take (or confirm) the events; the message is safe to show (no password)."""


def parse_events(body: bytes) -> list[dict]:
    """The events of a body: an event object, or {"batch": [event, ...]} (a body with a `batch` key)."""
    try:
        payload = json_limits.loads(body)
    except json_limits.NumberRefused as e:  # beyond what the pipeline stores and reads back (json_limits.py)
        raise InvalidEvents(f"the body is refused: {e}", {"json": [str(e)]}) from e
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
        raise InvalidEvents(f"the body is not valid JSON: {e}", {"json": ["Invalid JSON body."]}) from e
    except RecursionError as e:
        raise InvalidEvents("the body is nested too deeply", {"json": ["Invalid JSON body."]}) from e
    if not isinstance(payload, dict):
        raise InvalidEvents(
            f'the body is a JSON {type(payload).__name__}: send an event object or {{"batch": [...]}}',
            {"json": {"_schema": ["Invalid input type."]}},
        )
    if "batch" not in payload:
        errors = EventEnvelopeSchema().validate(payload)
        if errors:
            raise InvalidEvents("the event is invalid; nothing was published", {"json": errors})
        return [payload]
    errors = EventBatchSchema().validate(payload)
    if errors:
        raise InvalidEvents("the batch is invalid; nothing was published", {"json": errors})
    items = payload["batch"]
    envelope = EventEnvelopeSchema()
    invalid = {}
    for index, item in enumerate(items):
        problems = envelope.validate(item) if isinstance(item, dict) else {"_schema": ["Invalid input type."]}
        if problems:
            invalid[index] = problems
    if invalid:
        raise InvalidEvents(
            f"{len(invalid)} of {len(items)} events are invalid; nothing was published",
            {"json": {"batch": invalid}},
        )
    return items


class EventPublisher:
    """One broker connection per process, shared by the server's threads under a lock."""

    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url
        self._lock = threading.Lock()
        self._connection: Connection | None = None

    def publish(self, events: list[dict]) -> int:
        """Publish and return how many the broker confirmed; BrokerUnavailable when it did not answer."""
        if self.broker_url.startswith("memory://"):
            raise BrokerUnavailable(
                "BROKER_URL is the embedded memory:// broker, which other processes cannot read: "
                "set BROKER_URL to RabbitMQ to accept events over HTTP"
            )
        with self._lock:
            try:
                return publish_events(self._connect(), events)
            except Exception as e:  # kombu raises transport-specific errors
                self._close()
                _broker_down.warning("BROKER_URL: publishing to %s failed: %s", hide_password(self.broker_url), e)
                raise BrokerUnavailable(
                    f"the broker did not confirm the events ({type(e).__name__}): {hide_password(self.broker_url)}; "
                    "re-sending is safe, a repeated messageId is stored once"
                ) from e

    def _connect(self) -> Connection:
        if self._connection is None:
            connection = connect(self.broker_url)
            try:
                connection.ensure_connection(max_retries=1)
                declare(connection)
            except Exception:
                connection.release()
                raise
            self._connection = connection
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception as e:  # a broken connection may fail to close; it is dropped either way
                log.debug("closing the broker connection: %s", e)
            self._connection = None

    def close(self) -> None:
        with self._lock:
            self._close()
