"""Where a person is stored here: finding their rows (identities, deliveries, events, attempts) by what the rows
name, through indexes, and removing or redacting them. Used by the erasure (workers/privacy/erasure.py) and by
processing when it learns a new identifier of an erased person (guard.py); no commits here.

Who is the person: the emails the request names or that its userId is linked to; their keys are the userIds
and anonymousIds linked to those emails, or named together with one of them by a delivery or an event (an
identify that carried the email and a new anonymousId). Keys never add emails: an anonymousId once linked to
someone else does not pull that person in; an event found by its anonymousId alone teaches nothing.

Events are found through `event_names(payload)` (a GIN index: the emails of `traits` and `context.traits`,
userId, anonymousId), the few kept as a raw body through `ix_events_raw_body`, deliveries by email
(`ix_deliveries_email`) and by their event: lookups, not scans, so the search can run under the erasure lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, null, or_, select, tuple_, update
from sqlalchemy.orm import Session

from models import (
    Contact,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventStatus,
    Identity,
    Integration,
    Order,
)
from models.base import has_status, utcnow
from models.db import among
from models.erasure import NAME_LENGTH, event_names
from workers.privacy.hashing import normalize

ERASED = "erased"
Ident = tuple[str, str]  # ("email" | "user" | "anonymous", value)


@dataclass
class Person:
    emails: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    anonymous: set[str] = field(default_factory=set)
    before: datetime | None = None  # only rows of what happened before this (the request); None: every row
    deliveries: set[int] = field(default_factory=set)
    events: set[int] = field(default_factory=set)
    attempts: set[int] = field(default_factory=set)

    def identifiers(self) -> list[Ident]:
        return sorted(
            [("email", e) for e in self.emails]
            + [("user", u) for u in self.users]
            + [("anonymous", a) for a in self.anonymous]
        )

    def keys(self) -> list[Ident]:
        return sorted([("user", u) for u in self.users] + [("anonymous", a) for a in self.anonymous])

    def add(self, idents: set[Ident]) -> bool:
        """Add identifiers; True when any was new."""
        new = set(idents) - set(self.identifiers())
        for kind, value in new:
            {"email": self.emails, "user": self.users, "anonymous": self.anonymous}[kind].add(value)
        return bool(new)

    def found(self) -> bool:
        return bool(self.deliveries or self.events or self.attempts)


def learned_keys(named: set[Ident], erased: set[Ident]) -> set[Ident]:
    """What a record of the person teaches: the keys beside an erased email, or beside an erased userId when it
    names no email. Never an email, and nothing from an anonymousId alone (a shared device)."""
    emails = {i for i in named if i[0] == "email"}
    users = {i for i in named if i[0] == "user"}
    if emails & erased or (not emails and users & erased):
        return {i for i in named if i[0] != "email"} - erased
    return set()


def happened(stamp: object, received_at: datetime | None) -> datetime | None:
    """When an event happened, for "before the erasure": its own timestamp or its arrival, whichever is earlier."""
    moments = [t for t in (parse_stamp(stamp), received_at) if t is not None]
    return min(moments) if moments else None


def parse_stamp(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None
    return stamp if stamp is None or stamp.tzinfo else stamp.replace(tzinfo=UTC)


def name(kind: str, value: str) -> str:
    return f"{kind}:{normalize(kind, value)}"[:NAME_LENGTH]


def parse_names(names: list[str] | None) -> set[Ident]:
    """`kind:value` texts back to identifiers (a value cut at the index's limit is not a whole identifier)."""
    pairs = (n.split(":", 1) for n in names or [] if ":" in n and len(n) < NAME_LENGTH)
    return {(kind, value) for kind, value in pairs if value}


def resolve(session: Session, person: Person) -> None:
    """Fill in the emails of the person's userIds, then the keys linked to the person's emails (identities, and
    the deliveries that carry those emails)."""
    if person.users:
        linked = select(Identity.email).where(Identity.kind == "user", among(Identity.value, sorted(person.users)))
        person.emails.update(e for e in session.scalars(linked) if e)
    if not person.emails:
        return
    emails = sorted(person.emails)
    for kind, value in session.execute(select(Identity.kind, Identity.value).where(among(Identity.email, emails))):
        (person.users if kind == "user" else person.anonymous).add(value)
    carried = select(Delivery.user_id, Delivery.anonymous_id).where(among(Delivery.email, emails)).distinct()
    for user_id, anonymous_id in session.execute(carried):
        person.users.update([user_id] if user_id else [])
        person.anonymous.update([anonymous_id] if anonymous_id else [])


def find_rows(session: Session, person: Person) -> None:
    """The person's events, deliveries and attempts (of what happened before `person.before`), learning the keys
    their events and deliveries carry until nothing new comes up."""
    while True:
        learned = _find_events(session, person) | _find_deliveries(session, person)
        if not person.add(learned):
            break
    _find_raw_bodies(session, person)
    if person.events:
        person.deliveries.update(
            session.scalars(select(Delivery.id).where(among(Delivery.event_id, sorted(person.events))))
        )
    if person.emails:
        a = DeliveryAttempt
        named = or_(*[a.error.ilike(f"%{e}%") for e in sorted(person.emails)])
        query = select(a.id).where(a.error.is_not(None), named)
        if person.before is not None:
            query = query.where(a.created_at < person.before)
        person.attempts.update(session.scalars(query))


def _find_events(session: Session, person: Person) -> set[Ident]:
    names = sorted({name(*i) for i in person.identifiers()})
    if not names:
        return set()
    rows = session.execute(
        select(Event.id, Event.received_at, Event.payload["timestamp"].astext, event_names(Event.payload)).where(
            event_names(Event.payload).overlap(names)
        )
    )
    known, learned, visitors = set(person.identifiers()), set(), set()
    for event_id, received_at, stamp, named in rows:
        idents = parse_names(named)
        if event_id in person.events or not _before(person, happened(stamp, received_at)):
            continue
        if idents & known <= {i for i in idents if i[0] == "anonymous"}:
            visitors.add(event_id)  # found by an anonymousId alone: the person's unless it went to someone else
            continue
        person.events.add(event_id)
        learned |= learned_keys(idents, known)
    if visitors:
        elsewhere = select(Delivery.event_id).where(
            among(Delivery.event_id, sorted(visitors)),
            Delivery.email.is_not(None),
            ~among(Delivery.email, sorted(person.emails)),
        )
        person.events.update(visitors - set(session.scalars(elsewhere)))
    return learned


def _find_deliveries(session: Session, person: Person) -> set[Ident]:
    """Deliveries carrying the person's emails (their own keys are the person's), and held ones naming the
    person's keys (waiting for an identify; their event may be redacted already); deliveries of the person's
    events are added by find_rows once every event is known."""
    learned = _find_held(session, person)
    if not person.emails:
        return learned
    d = Delivery
    rows = session.execute(
        select(d.id, d.user_id, d.anonymous_id, d.event_at, d.created_at).where(among(d.email, sorted(person.emails)))
    )
    for delivery_id, user_id, anonymous_id, event_at, created_at in rows:
        if _before(person, happened(event_at, created_at)):
            person.deliveries.add(delivery_id)
            learned.update(i for i in (("user", user_id), ("anonymous", anonymous_id)) if i[1])
    return learned - set(person.identifiers())


def _find_held(session: Session, person: Person) -> set[Ident]:
    d, keys = Delivery, []
    if person.users:  # plain IN lists: the planner then probes the partial indexes on held deliveries
        keys.append(d.user_id.in_(sorted(person.users)))
    if person.anonymous:
        keys.append(d.anonymous_id.in_(sorted(person.anonymous)))
    if not keys:
        return set()
    known, learned = set(person.identifiers()), set()
    rows = session.execute(
        select(d.id, d.user_id, d.anonymous_id, d.event_at, d.created_at).where(
            has_status(d.status, DeliveryStatus.HELD), or_(*keys)
        )
    )
    for delivery_id, user_id, anonymous_id, event_at, created_at in rows:
        if _before(person, happened(event_at, created_at)):
            person.deliveries.add(delivery_id)
            named = {i for i in (("user", user_id), ("anonymous", anonymous_id)) if i[1]}
            learned |= learned_keys(named, known)
    return learned


def _find_raw_bodies(session: Session, person: Person) -> None:
    """Bodies kept as text (not JSON): the few of them are read through their partial index."""
    needles = [normalize(*i) for i in person.identifiers()]
    if not needles:
        return
    rows = session.execute(select(Event.id, Event.raw_body, Event.received_at).where(Event.raw_body.is_not(None)))
    for event_id, raw_body, received_at in rows:
        text = raw_body.lower()
        if _before(person, received_at) and any(n.lower() in text for n in needles):
            person.events.add(event_id)


def _before(person: Person, moment: datetime | None) -> bool:
    return person.before is None or moment is None or moment < person.before


def lock_deliveries(session: Session, person: Person) -> None:
    """Wait for a flush round that holds any of the person's deliveries (its request is running): what it sent
    is then `sent` with its job id, and the erasure waits for that import before it searches SendGrid."""
    if person.deliveries:
        session.execute(
            select(Delivery.id).where(among(Delivery.id, sorted(person.deliveries))).with_for_update()
        ).all()


def pending_imports(session: Session, person: Person) -> dict[int, list[str]]:
    """Integration -> import jobs still carrying the person (sent, not settled): SendGrid is searched only after
    they finished, so an import that lands late cannot bring the contact back after its deletion."""
    rows = session.execute(
        select(Delivery.integration_id, Delivery.job_id)
        .where(among(Delivery.id, sorted(person.deliveries)), Delivery.status == DeliveryStatus.SENT)
        .where(Delivery.job_id.is_not(None))
        .distinct()
    )
    jobs: dict[int, list[str]] = {}
    for integration_id, job_id in rows:
        jobs.setdefault(integration_id, []).append(job_id)
    return jobs


def withdrawn_unforwarded(session: Session, person: Person) -> set[int]:
    """Integrations where the person withdrew consent and the unsubscribe group was not told yet: the erasure
    forwards it (suppressions are kept, so that nobody mails the address again)."""
    return set(
        session.scalars(
            select(Contact.integration_id).where(
                among(Contact.email, sorted(person.emails)), Contact.consent.is_(False), Contact.suppressed.is_(False)
            )
        )
    )


def remove(session: Session, person: Person) -> dict[str, int]:
    """Delete the person's contacts, orders and identity links; redact their deliveries, events and attempts.
    Returns the rows touched per table (what the erasure record keeps)."""
    emails = sorted(person.emails)
    # With the integration ids the unique index (integration_id, email) finds the contacts.
    integrations, emailed = sorted(session.scalars(select(Integration.id))), among(Contact.email, emails)
    removed = {
        "contacts": _count(session, delete(Contact).where(among(Contact.integration_id, integrations), emailed)),
        "orders": _count(session, delete(Order).where(among(Order.email, emails))),
        "identities": _count(session, delete(Identity).where(or_(among(Identity.email, emails), _linked(person)))),
    }
    redacted = redact(session, person)
    return removed | {table: n + removed.get(table, 0) for table, n in redacted.items()}


def redact(session: Session, person: Person) -> dict[str, int]:
    """Redact the rows found (deliveries, events, attempts) and delete the unlinked identity rows of the keys;
    the state (contacts, orders, links to an email) is left alone. What an erasure's last check and a learned
    identifier remove."""
    now, deliveries = utcnow(), sorted(person.deliveries)
    removed = {"identities": _count(session, delete(Identity).where(_linked(person), Identity.email.is_(None)))}
    _count(  # waiting ones will never go: skipped
        session,
        update(Delivery)
        .where(among(Delivery.id, deliveries), Delivery.status.in_([DeliveryStatus.HELD, DeliveryStatus.QUEUED]))
        .values(status=DeliveryStatus.SKIPPED, updated_at=now),
    )
    removed["deliveries"] = _count(
        session,
        update(Delivery)
        .where(among(Delivery.id, deliveries))
        .values(email=None, user_id=None, anonymous_id=None, patch=null(), reason=ERASED, updated_at=now),
    )
    events = sorted(person.events)
    _count(
        session,
        update(Event)
        .where(among(Event.id, events), Event.status == EventStatus.RECEIVED)
        .values(status=EventStatus.PROCESSED, processed_at=now),
    )
    removed["events"] = _count(
        session, update(Event).where(among(Event.id, events)).values(payload=null(), raw_body=None, reason=ERASED)
    )
    removed["delivery_attempts"] = _count(
        session,
        update(DeliveryAttempt).where(among(DeliveryAttempt.id, sorted(person.attempts))).values(error=ERASED),
    )
    return removed


def _linked(person: Person):
    return tuple_(Identity.kind, Identity.value).in_(person.keys() or [("", "")])


def _count(session: Session, statement) -> int:
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0
