"""The event inbox: store a batch of broker messages once each, in one round trip."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Event, EventStatus
from models.base import utcnow
from models.db import insert_ignoring_conflicts

MAX_RAW_BODY = 64 * 1024  # what is kept of a body that is not a JSON object, so a person can read it
MAX_MESSAGE_ID = 200


# What PostgreSQL's JSONB cannot hold: NUL characters and unpaired UTF-16 surrogates.
_UNSTORABLE = re.compile(r"\\u0000|\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}")


def storable(payload: object) -> object:
    """The payload with characters JSONB rejects replaced by U+FFFD (valid JSON need not be storable)."""
    text = json.dumps(payload)
    cleaned = _UNSTORABLE.sub(r"\\ufffd", text)
    return payload if cleaned == text else json.loads(cleaned)


@dataclass(frozen=True)
class Incoming:
    body: bytes
    message_id: str | None = None  # the AMQP message_id property, if the producer set it


def decode(message: Incoming, now: datetime) -> dict:
    """An `events` row for one message; never raises. Undecodable bodies become rejected rows."""
    row: dict = {"received_at": now, "status": EventStatus.RECEIVED.value, "process_attempts": 0}
    reason = None
    payload = None
    try:
        payload = storable(json.loads(message.body.decode("utf-8")))
        if not isinstance(payload, dict):
            reason, payload = f"body is a JSON {type(payload).__name__}, not an event object", None
    except UnicodeDecodeError as e:
        reason = f"body is not UTF-8 ({e.reason} at byte {e.start})"
    except ValueError as e:
        reason = f"body is not JSON: {e}"
    except RecursionError:
        reason = "body is nested too deeply to be an event"
    message_id = payload.get("messageId") if payload else None
    if not isinstance(message_id, str) or not message_id.strip():
        message_id = message.message_id
    if not message_id or len(message_id) > MAX_MESSAGE_ID:
        # No usable id: the body's hash, so a redelivered copy of the same bytes is still stored once.
        message_id = "sha256:" + hashlib.sha256(message.body).hexdigest()
    row["message_id"] = message_id
    if payload is not None:
        row["payload"] = payload
        row["type"] = str(payload.get("type"))[:40] if payload.get("type") is not None else None
    else:
        row["raw_body"] = message.body[:MAX_RAW_BODY].decode("utf-8", errors="replace")
        row["status"], row["reason"], row["processed_at"] = EventStatus.REJECTED.value, reason, now
    return row


def store_events(session: Session, messages: list[Incoming]) -> list[int]:
    """Insert the batch, ignoring messageIds already stored; returns the ids of new events to process."""
    now = utcnow()
    rows = {}
    for message in messages:
        row = decode(message, now)
        rows.setdefault(row["message_id"], row)  # a duplicate inside the batch is stored once too
    if not rows:
        return []
    keys = ("message_id", "type", "received_at", "payload", "raw_body", "status", "reason", "process_attempts")
    values = [{k: row.get(k) for k in keys} | {"processed_at": row.get("processed_at")} for row in rows.values()]
    insert_ignoring_conflicts(session, Event.__table__, values, "message_id")
    fresh = [r["message_id"] for r in rows.values() if r["status"] == EventStatus.RECEIVED.value]
    if not fresh:
        return []
    return list(
        session.scalars(
            select(Event.id).where(
                Event.message_id.in_(fresh), Event.status == EventStatus.RECEIVED, Event.process_attempts == 0
            )
        )
    )
