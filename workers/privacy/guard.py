"""No resurrection: processing drops the events of an erased person that happened before the erasure.

The rule: an event is dropped when its email, userId or anonymousId matches an erasure's keyed hash and the event
happened before that erasure was requested, by its own timestamp or by its arrival, whichever is earlier
(`min(timestamp, received_at) < erasure.requested_at`). Dropped means: the event `processed` with reason
`erased` and its payload removed, and one delivery per integration `skipped`, reason `erased`, naming nobody.
Anything later is a new life: an identify with marketing consent after the erasure creates a new contact.

An erasure and processing exclude each other with one PostgreSQL advisory lock: every processing transaction
holds it shared (one entry in the lock table, whatever the batch size) from before it reads its events; the
erasure's local step holds it exclusive. So a batch either finished before the erasure removed anything, or
starts after the erasure committed and then reads its hashes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Row, bindparam, exists, func, null, select, update
from sqlalchemy.orm import Session

from mapping import MappedEvent
from models import DeliveryStatus, ErasedIdentifier, Event, EventStatus, Integration, bulk
from models.base import utcnow
from models.db import among
from workers.privacy.hashing import current_hasher

ERASED = "erased"
ERASURE_LOCK = 0x5347_4552  # the advisory lock key erasure and processing share ("SGER")

_SHARED = select(func.pg_advisory_xact_lock_shared(bindparam("k", type_=BigInteger)))
_EXCLUSIVE = select(func.pg_advisory_xact_lock(bindparam("k", type_=BigInteger)))
_ANY_ERASED = select(exists().where(ErasedIdentifier.id.is_not(None)))


def hold_shared(session: Session) -> None:
    """Processing: no erasure removes anything until this transaction ends."""
    session.execute(_SHARED, {"k": ERASURE_LOCK})


def hold_exclusive(session: Session) -> None:
    """The erasure's local step: waits for the batches in flight, holds new ones until it commits."""
    session.execute(_EXCLUSIVE, {"k": ERASURE_LOCK})


def identifiers(mapped: MappedEvent, payload: object) -> set[tuple[str, str]]:
    """What the event names, mapped or not (a rejected event still names its person in its payload)."""
    pairs = [("email", mapped.email), ("user", mapped.user_id), ("anonymous", mapped.anonymous_id)]
    if isinstance(payload, dict):
        pairs += [("user", payload.get("userId")), ("anonymous", payload.get("anonymousId"))]
        context = payload.get("context")
        for traits in (payload.get("traits"), context.get("traits") if isinstance(context, dict) else None):
            if isinstance(traits, dict):
                pairs.append(("email", traits.get("email")))
    return {(kind, value) for kind, value in pairs if isinstance(value, str) and value}


def erased_events(session: Session, events: list[Row], checked: dict[int, MappedEvent]) -> set[int]:
    """The ids of these events that name an erased person and happened before the erasure."""
    if not session.scalar(_ANY_ERASED):  # nobody was ever erased: no secret needed, one cheap query
        return set()
    hasher = current_hasher()
    named = {e.id: identifiers(checked[e.id], e.payload) for e in events}
    lookup = hasher.lookup(i for idents in named.values() for i in idents)
    if not lookup:
        return set()
    query = (
        select(ErasedIdentifier.digest, func.max(ErasedIdentifier.erased_at))
        .where(among(ErasedIdentifier.digest, sorted(lookup)))
        .group_by(ErasedIdentifier.digest)
    )
    erased_at: dict[tuple[str, str], datetime] = {}
    for digest, at in session.execute(query):
        ident = lookup[digest]
        erased_at[ident] = max(at, erased_at.get(ident, at))
    if not erased_at:
        return set()
    dropped = set()
    for event in events:
        mapped = checked[event.id]
        stamped = mapped.timestamp or _stamp(event.payload)  # a rejected event has no mapped timestamp
        happened = min(t for t in (stamped, event.received_at) if t is not None)
        if any(ident in erased_at and happened < erased_at[ident] for ident in named[event.id]):
            dropped.add(event.id)
    return dropped


def _stamp(payload: object) -> datetime | None:
    value = payload.get("timestamp") if isinstance(payload, dict) else None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None
    return stamp if stamp is None or stamp.tzinfo else stamp.replace(tzinfo=UTC)


def drop_erased(
    session: Session, events: list[Row], checked: dict[int, MappedEvent], integrations: list[Integration]
) -> None:
    """Record the dropped events: processed, reason `erased`, payload gone; deliveries skipped, naming nobody."""
    now = utcnow()
    bulk.insert_deliveries(session, [{
        "integration_id": integration.id, "event_id": event.id, "kind": checked[event.id].kind, "email": None,
        "user_id": None, "anonymous_id": None, "event_at": checked[event.id].timestamp, "patch": None,
        "status": DeliveryStatus.SKIPPED, "reason": ERASED, "attempts": 0, "replay_count": 0,
        "created_at": now, "updated_at": now,
    } for event in events for integration in integrations])  # fmt: skip
    session.execute(
        update(Event.__table__)
        .where(among(Event.id, [e.id for e in events]))
        .values(status=EventStatus.PROCESSED.value, reason=ERASED, payload=null(), raw_body=None, processed_at=now)
    )
