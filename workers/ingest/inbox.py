"""The event inbox: store a batch of broker messages once each, in one round trip.

Only an event claims its messageId. A body that is not an event (unreadable, too large, refused by the
database) is keyed by the sha256 of its bytes, so a corrected re-send under the same id is stored. A stored
messageId re-sent with the same event (transport fields such as `sentAt` aside: an SDK's retry) is dropped; with
a different event it is recorded as `conflicting` (both events' digests, not the body).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, bindparam, select, type_coerce, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from models import Event, EventStatus
from models.arrays import stored, unnest
from models.base import UTCDateTime, utcnow
from models.db import among
from workers.ingest import json_limits

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1024 * 1024  # like POST /v1/events: a larger body is rejected with a reason and not kept
# Fields a sender sets on each try, left out of an event's digest: an SDK's retry differs in them only.
TRANSPORT_FIELDS = frozenset({"sentAt"})
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


# One encoder (json.dumps with options builds one per call): keys sorted, so a re-serialized retry matches too.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_digest(payload: dict) -> str:
    """sha256 (hex) of the event without its transport fields: the same for every retry of one event."""
    text = _CANONICAL.encode({key: value for key, value in payload.items() if key not in TRANSPORT_FIELDS})
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def _rejected(row: dict, message: Incoming, reason: str, now: datetime, keep_body: bool = True) -> dict:
    """A body that is not an event: keyed by the sha256 of its bytes, never by the producer's id."""
    body_digest = hashlib.sha256(message.body).hexdigest()
    row.pop("payload_json", None)
    row["message_id"], row["digest"] = "sha256:" + body_digest, body_digest
    row["raw_body"] = _text(message.body[:MAX_RAW_BODY].decode("utf-8", errors="replace")) if keep_body else None
    row["status"], row["reason"], row["processed_at"] = EventStatus.REJECTED.value, reason, now
    return row


def decode(message: Incoming, now: datetime) -> dict:
    """An `events` row for one message; never raises. Undecodable bodies become rejected rows."""
    row: dict = {"received_at": now, "status": EventStatus.RECEIVED.value, "process_attempts": 0}
    reason = None
    payload = None
    if len(message.body) > MAX_MESSAGE_BYTES:
        reason = f"body is {len(message.body):,} bytes, over the {MAX_MESSAGE_BYTES:,}-byte limit (not kept)"
        return _rejected(row, message, reason, now, keep_body=False)
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
    if payload is None:
        return _rejected(row, message, reason, now)
    message_id = payload.get("messageId")
    if not isinstance(message_id, str) or not message_id.strip():
        message_id = message.message_id
    if not message_id or len(message_id) > MAX_MESSAGE_ID:
        # No usable id: the body's hash, so a redelivered copy of the same bytes is still stored once.
        message_id = "sha256:" + hashlib.sha256(message.body).hexdigest()
    row["message_id"] = _text(message_id)
    row["payload"] = payload
    row["type"] = str(payload.get("type"))[:40] if payload.get("type") is not None else None
    row["digest"] = event_digest(payload)
    return row


_events = Event.__table__.c
_EVENT = {"ids": _events.message_id, "types": _events.type, "payloads": _events.payload, "raws": _events.raw_body,
          "statuses": _events.status, "reasons": _events.reason, "dones": _events.processed_at,
          "digests": _events.digest, "conflicts": _events.conflicts_with}  # fmt: skip
_INSERT_EVENTS = (  # process_attempts: Event's default
    insert(Event.__table__)
    .from_select(
        [_events.received_at, *_EVENT.values()],
        select(bindparam("now", type_=UTCDateTime()), *stored(unnest(**_EVENT), _EVENT)),
    )
    .on_conflict_do_nothing(index_elements=[_events.message_id])
    # status as the text stored, as before: no Enum conversion of every returned row
    .returning(_events.id, type_coerce(_events.status, String), _events.message_id)
)


def store_events(session: Session, messages: list[Incoming]) -> list[int]:
    """Insert the batch in one statement, ignoring messageIds already stored; returns the new events to process.

    Should the database refuse the batch for one row's content, the rows are stored one by one and a refused
    row is kept as a rejected event with the database's reason: one message never blocks the queue.
    """
    now = utcnow()
    rows: dict[str, dict] = {}
    repeats: list[dict] = []
    for message in messages:
        row = decode(message, now)
        if rows.setdefault(row["message_id"], row) is not row:
            repeats.append(row)  # a duplicate inside the batch is stored once too, and compared like any re-send
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
    claimed = {message_id for _, _, message_id in inserted}
    repeats += [row for row in batch if row["message_id"] not in claimed]
    if repeats:
        inserted += settle_repeats(session, repeats, now)
    return sorted(i for i, status, _ in inserted if status == EventStatus.RECEIVED)


def refused(row: dict, reason: str, now: datetime) -> dict:
    """A row the database refused, as a rejected body: keyed by a digest, so the producer's id stays free."""
    raw = row.get("raw_body") or row.get("payload_json") or ""
    digest = row.get("digest") or hashlib.sha256(raw.encode("utf-8", errors="surrogatepass")).hexdigest()
    return {"message_id": "sha256:" + digest, "type": None, "raw_body": _text(raw[:MAX_RAW_BODY]),
            "status": EventStatus.REJECTED.value, "reason": reason, "processed_at": now, "digest": digest}  # fmt: skip


def settle_repeats(session: Session, repeats: list[dict], now: datetime) -> list[tuple[int, str, str]]:
    """Events whose messageId is already stored. The same event (a redelivery, an SDK's retry) is dropped. A
    different one is stored as `conflicting` beside it, unless the stored one was rejected: that one then gives
    the id up (it is keyed by its row id) and the re-sent event is stored and processed."""
    found = session.execute(
        select(_events.message_id, _events.id, _events.digest, type_coerce(_events.status, String)).where(
            among(_events.message_id, {row["message_id"] for row in repeats})
        )
    )
    stored = {message_id: (event_id, digest, status) for message_id, event_id, digest, status in found}
    released: list[int] = []
    new_rows: dict[str, dict] = {}
    for row in repeats:
        held = stored.get(row["message_id"])
        if held is None or row["status"] != EventStatus.RECEIVED.value:
            continue  # not stored after all (the database refused it), or a body that claims no id
        event_id, digest, status = held
        if status == EventStatus.REJECTED.value and event_id is not None and digest != row["digest"]:
            released.append(event_id)
            stored[row["message_id"]] = (None, row["digest"], row["status"])
            new_rows[row["message_id"]] = row
        elif digest is not None and digest != row["digest"]:
            new_rows.setdefault("conflict:" + row["digest"], conflicting(row, digest, now))
    if released:
        session.execute(
            update(Event)
            .where(among(_events.id, released))
            .values(message_id="rejected:" + type_coerce(_events.id, String))
        )
        log.info("%d rejected events gave their messageId up to a re-sent event", len(released))
    if not new_rows:
        return []
    inserted = insert_rows(session, list(new_rows.values()), now)
    clashes = [new_rows[key]["reason"] for _, status, key in inserted if status == EventStatus.CONFLICTING]
    if clashes:  # one line a batch: the rows say the rest
        log.warning(
            "%d re-sent messageIds carried a different event (first: %s); kept as conflicting, not processed "
            "(signal-sendgrid events --status conflicting)", len(clashes), clashes[0],
        )  # fmt: skip
    return inserted


def conflicting(row: dict, stored_digest: str, now: datetime) -> dict:
    """The re-sent event recorded by its digest (a retry of it is recorded once), never processed. Its body is not
    kept: it would escape erasure, which finds an erased person's later events as processing reads them."""
    reason = f"messageId {row['message_id']!r} is already stored with a different event (sha256 {stored_digest})"
    return {"message_id": "conflict:" + row["digest"], "type": row.get("type"), "reason": reason,
            "status": EventStatus.CONFLICTING.value, "processed_at": now,
            "digest": row["digest"], "conflicts_with": stored_digest}  # fmt: skip


def insert_rows(session: Session, batch: list[dict], now: datetime) -> list[tuple[int, str, str]]:
    params = {
        "now": now,
        "ids": [r["message_id"] for r in batch],
        "types": [r.get("type") for r in batch],
        "payloads": [r.get("payload_json") for r in batch],
        "raws": [r.get("raw_body") for r in batch],
        "statuses": [r["status"] for r in batch],
        "reasons": [r.get("reason") for r in batch],
        "dones": [r.get("processed_at") for r in batch],
        "digests": [r.get("digest") for r in batch],
        "conflicts": [r.get("conflicts_with") for r in batch],
    }
    return [tuple(r) for r in session.execute(_INSERT_EVENTS, params)]
