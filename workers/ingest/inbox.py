"""The event inbox: store a batch of broker messages once each, in one round trip."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, bindparam, select, type_coerce
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from models import Event, EventStatus
from models.arrays import stored, unnest
from models.base import UTCDateTime, utcnow
from workers.ingest import json_limits

MAX_RAW_BODY = 64 * 1024  # what is kept of a body that is not a JSON object, so a person can read it
MAX_MESSAGE_ID = 200


# What PostgreSQL's JSONB cannot hold: NUL characters and unpaired UTF-16 surrogates.
# An escape only where an odd run of backslashes precedes the `u` (`\\u0000` is a backslash, then text).
_UNSTORABLE = re.compile(
    r"(?<!\\)((?:\\\\)*)"
    r"(?:\\u0000|\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2})"
)


# Only an escape can put NUL or a lone surrogate in decoded UTF-8 JSON; without one the body is JSONB-safe.
_ESCAPES = re.compile(r"\\u(?:0000|d[89a-f])", re.IGNORECASE)


# One decoder for every body, with the number limits of POST /v1/events and `publish` (json_limits.py).
_DECODER = json_limits.DECODER


def storable(payload: object) -> tuple[object, str]:
    """The payload, and its JSON text, with characters JSONB rejects replaced by U+FFFD."""
    text = json.dumps(payload, allow_nan=False)
    cleaned = _UNSTORABLE.sub(r"\1\\ufffd", text)
    return (payload, text) if cleaned == text else (json.loads(cleaned), cleaned)


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL."""
    return value.replace("\x00", "\ufffd")


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
        text_body = message.body.decode("utf-8")
        payload = _DECODER.decode(text_body)
        if _ESCAPES.search(text_body) is None:
            row["payload_json"] = text_body  # already valid JSONB input: no need to serialize it again
        else:
            payload, row["payload_json"] = storable(payload)
        if not isinstance(payload, dict):
            reason, payload = f"body is a JSON {type(payload).__name__}, not an event object", None
    except UnicodeDecodeError as e:
        reason = f"body is not UTF-8 ({e.reason} at byte {e.start})"
    except json_limits.NumberRefused as e:
        reason = f"body refused: {e}"
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
    row["message_id"] = _text(message_id)
    if payload is not None:
        row["payload"] = payload
        row["type"] = str(payload.get("type"))[:40] if payload.get("type") is not None else None
    else:
        row["raw_body"] = _text(message.body[:MAX_RAW_BODY].decode("utf-8", errors="replace"))
        row.pop("payload_json", None)
        row["status"], row["reason"], row["processed_at"] = EventStatus.REJECTED.value, reason, now
    return row


_events = Event.__table__.c
_EVENT = {"ids": _events.message_id, "types": _events.type, "payloads": _events.payload, "raws": _events.raw_body,
          "statuses": _events.status, "reasons": _events.reason, "dones": _events.processed_at}  # fmt: skip
_INSERT_EVENTS = (  # process_attempts: Event's default
    insert(Event.__table__)
    .from_select(
        [_events.received_at, *_EVENT.values()],
        select(bindparam("now", type_=UTCDateTime()), *stored(unnest(**_EVENT), _EVENT)),
    )
    .on_conflict_do_nothing(index_elements=[_events.message_id])
    # status as the text stored, as before: no Enum conversion of every returned row
    .returning(_events.id, type_coerce(_events.status, String))
)


def store_events(session: Session, messages: list[Incoming]) -> list[int]:
    """Insert the batch in one statement, ignoring messageIds already stored; returns the new events to process.

    Should the database refuse the batch for one row's content, the rows are stored one by one and a refused
    row is kept as a rejected event with the database's reason: one message never blocks the queue.
    """
    now = utcnow()
    rows: dict[str, dict] = {}
    for message in messages:
        row = decode(message, now)
        rows.setdefault(row["message_id"], row)  # a duplicate inside the batch is stored once too
    if not rows:
        return []
    batch = list(rows.values())
    try:
        with session.begin_nested():
            inserted = insert_rows(session, batch, now)
    except DBAPIError as e:
        if isinstance(e, OperationalError):
            raise  # the database is down, not the data: the caller keeps the messages and retries
        inserted = []
        for row in batch:
            try:
                with session.begin_nested():
                    inserted += insert_rows(session, [row], now)
            except DBAPIError as one:
                if isinstance(one, OperationalError):
                    raise
                reason = f"the database refused this event ({type(one.orig).__name__}): {str(one.orig).splitlines()[0]}"
                with session.begin_nested():
                    inserted += insert_rows(session, [refused(row, reason[:1000], now)], now)
    return sorted(i for i, status in inserted if status == EventStatus.RECEIVED)


def refused(row: dict, reason: str, now: datetime) -> dict:
    raw = row.get("raw_body") or row.get("payload_json") or ""
    return {"message_id": row["message_id"], "type": None, "raw_body": _text(raw[:MAX_RAW_BODY]),
            "status": EventStatus.REJECTED.value, "reason": reason, "processed_at": now}  # fmt: skip


def insert_rows(session: Session, batch: list[dict], now: datetime) -> list[tuple[int, str]]:
    params = {
        "now": now,
        "ids": [r["message_id"] for r in batch],
        "types": [r.get("type") for r in batch],
        "payloads": [r.get("payload_json") for r in batch],
        "raws": [r.get("raw_body") for r in batch],
        "statuses": [r["status"] for r in batch],
        "reasons": [r.get("reason") for r in batch],
        "dones": [r.get("processed_at") for r in batch],
    }
    return [tuple(r) for r in session.execute(_INSERT_EVENTS, params)]
