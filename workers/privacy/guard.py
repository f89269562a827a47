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

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Row, bindparam, exists, func, null, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from mapping import MappedEvent
from models import Delivery, DeliveryStatus, ErasedIdentifier, Event, EventStatus, Integration, delivery_rows
from models.base import utcnow
from models.db import among
from workers.privacy import records
from workers.privacy.hashing import current_hasher
from workers.privacy.records import ERASED

log = logging.getLogger(__name__)
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
    """The ids of these events that name an erased person and happened before the erasure. An event dropped
    for an erased email (or userId) teaches the keys it carries beside it (a late identify with a new
    anonymousId): they are recorded as the erasure's, their stored rows redacted, and the batch's events that
    name them dropped too."""
    if not session.scalar(_ANY_ERASED):  # nobody was ever erased: no secret needed, one cheap query
        return set()
    hasher = current_hasher()
    named = {e.id: identifiers(checked[e.id], e.payload) for e in events}
    erased = erased_at(session, hasher, {i for idents in named.values() for i in idents})
    if not erased:
        return set()
    when = {e.id: records.happened(checked[e.id].timestamp or _stamp(e.payload), e.received_at) for e in events}
    dropped: set[int] = set()
    learned: dict[records.Ident, Erased] = {}
    while True:
        causes = {i: [erased[n] for n in named[i] if n in erased and (when[i] is None or when[i] < erased[n].at)]
                  for i in named if i not in dropped}  # fmt: skip
        new = {i: min(c, key=lambda e: e.at) for i, c in causes.items() if c}
        if not new:
            break
        dropped |= set(new)
        for event_id, source in sorted(new.items()):
            for key in records.learned_keys(named[event_id], set(erased)):
                erased[key] = learned[key] = source
    if learned:
        forget_learned(session, hasher, learned)
    return dropped


def _stamp(payload: object) -> object:  # a rejected event has no mapped timestamp
    return payload.get("timestamp") if isinstance(payload, dict) else None


@dataclass(frozen=True)
class Erased:
    at: datetime  # the erasure's request time
    erasure_id: int


def erased_at(session: Session, hasher, idents: set[records.Ident]) -> dict[records.Ident, Erased]:
    """The newest erasure of each of these identifiers (one indexed lookup of their digests)."""
    lookup = hasher.lookup(idents)
    if not lookup:
        return {}
    query = (
        select(ErasedIdentifier.digest, ErasedIdentifier.erased_at, ErasedIdentifier.erasure_id)
        .where(among(ErasedIdentifier.digest, sorted(lookup)))
        .order_by(ErasedIdentifier.erased_at)
    )
    return {lookup[digest]: Erased(at, erasure_id) for digest, at, erasure_id in session.execute(query)}


def forget_learned(session: Session, hasher, learned: dict[records.Ident, Erased]) -> None:
    """Record the keys learned from a dropped event as their erasure's, and redact the rows stored before that
    name them (a page event held for a visitor the person's late identify would have linked)."""
    for (kind, value), source in sorted(learned.items()):
        session.add(ErasedIdentifier(erasure_id=source.erasure_id, kind=kind, digest=hasher.digest(kind, value),
                                     erased_at=source.at, source="learned"))  # fmt: skip
    redact_learned(session, learned)
    session.flush()
    # A batch running beside this one passed its check before these hashes were committed, and may be storing
    # an event of a learned key right now: once this commits, look again under the exclusive lock (it waits
    # for that batch; every later batch reads the hashes and drops such events itself).
    sa_event.listen(session, "after_commit", lambda s: _look_again(s.get_bind(), learned), once=True)
    log.info("erasure: %s identifier(s) learned from a later event, their earlier rows redacted", len(learned))


def redact_learned(session: Session, learned: dict[records.Ident, Erased]) -> None:
    for at in sorted({source.at for source in learned.values()}):
        person = records.Person(before=at)
        person.add({key for key, source in learned.items() if source.at == at})
        records.find_rows(session, person)
        records.redact(session, person)


def _look_again(bind, learned: dict[records.Ident, Erased]) -> None:
    try:
        with Session(bind) as session, session.begin():
            hold_exclusive(session)
            redact_learned(session, learned)
    except Exception:  # the commit stands; the rows stay until the erasure or the identifier's next event
        log.exception("erasure: the second look for learned identifiers failed")


def drop_erased(
    session: Session, events: list[Row], checked: dict[int, MappedEvent], integrations: list[Integration]
) -> None:
    """Record the dropped events: processed, reason `erased`, payload gone; deliveries skipped, naming nobody."""
    now = utcnow()
    delivery_rows.insert_deliveries(session, [{
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


def skip_erased(session: Session, deliveries: list[Delivery], status: DeliveryStatus | None) -> set[int]:
    """The flush's and the import poller's check (ORM deliveries, or rows of their columns): deliveries that
    name an erased person and belong to what happened before the erasure are redacted (reason `erased`, naming
    nobody) and, given a status, set to it. Returns their ids. One cheap query while nobody was ever erased."""
    if not deliveries or not session.scalar(_ANY_ERASED):
        return set()
    # A queued or sent delivery has its email, and every email of an erased person is hashed from the request
    # on: the email alone decides (fewer digests to compute for a round of 60,000).
    named = {d.id: {("email", d.email)} if d.email else set() for d in deliveries}
    erased = erased_at(session, current_hasher(), {i for idents in named.values() for i in idents})
    if not erased:
        return set()
    skipped = set()
    for d in deliveries:
        when = records.happened(d.event_at, d.created_at)
        if any(i in erased and (when is None or when < erased[i].at) for i in named[d.id]):
            skipped.add(d.id)
    if not skipped:
        return skipped
    values = {"email": None, "user_id": None, "anonymous_id": None, "patch": null(), "reason": ERASED}
    session.execute(
        update(Delivery.__table__)
        .where(among(Delivery.id, sorted(skipped)))
        .values(**values, **({"status": status.value} if status else {}), updated_at=utcnow())
    )
    for d in deliveries:
        if d.id in skipped and isinstance(d, Delivery):
            session.expire(d)
    log.warning("erasure: %s delivery(ies) of an erased person caught before SendGrid", len(skipped))
    return skipped
