"""Where a person is stored here: finding their rows (identities, deliveries, events, attempts), and removing
or redacting them. Used by the erasure's local step (workers/privacy/erasure.py); no commits here.

Who is the person: the emails the request names or that its userId is linked to (identities, deliveries); their
keys are the userIds and anonymousIds linked to those emails. Keys never add emails: an anonymousId once linked
to someone else does not pull that person in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Text, delete, func, literal, null, or_, select, tuple_, update
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
from models.base import utcnow
from models.db import among
from workers.privacy.guard import ERASED


@dataclass
class Person:
    emails: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    anonymous: set[str] = field(default_factory=set)
    deliveries: set[int] = field(default_factory=set)
    events: set[int] = field(default_factory=set)
    attempts: set[int] = field(default_factory=set)
    seen: dict[str, int] = field(default_factory=lambda: {"deliveries": 0, "events": 0, "attempts": 0})

    def identifiers(self) -> list[tuple[str, str]]:
        return sorted(
            [("email", e) for e in self.emails]
            + [("user", u) for u in self.users]
            + [("anonymous", a) for a in self.anonymous]
        )

    def keys(self) -> list[tuple[str, str]]:
        return sorted([("user", u) for u in self.users] + [("anonymous", a) for a in self.anonymous])


def resolve(session: Session, person: Person) -> None:
    """Fill in the emails of the person's userIds, then the keys linked to the person's emails."""
    if person.users:
        person.emails.update(
            e
            for e in session.scalars(
                select(Identity.email).where(Identity.kind == "user", among(Identity.value, sorted(person.users)))
            )
            if e
        )
    if not person.emails:
        return
    emails = sorted(person.emails)
    for kind, value in session.execute(select(Identity.kind, Identity.value).where(among(Identity.email, emails))):
        (person.users if kind == "user" else person.anonymous).add(value)


def find_rows(session: Session, person: Person, tail: bool = False) -> None:
    """The person's deliveries, events and attempts. `tail`: only rows newer than the last search (the search
    without the lock reads the whole tables; the one under the erasure lock only what came since)."""
    since = person.seen if tail else {"deliveries": 0, "events": 0, "attempts": 0}
    d = Delivery
    emails, users, anonymous = sorted(person.emails), sorted(person.users), sorted(person.anonymous)
    named = [among(d.email, emails), among(d.user_id, users)]
    named.append(among(d.anonymous_id, anonymous) & (d.email.is_(None) | among(d.email, emails)))
    for delivery_id, email, user_id, anonymous_id in session.execute(
        select(d.id, d.email, d.user_id, d.anonymous_id).where(d.id > since["deliveries"], or_(*named))
    ):
        person.deliveries.add(delivery_id)
        if email in person.emails:  # the keys of the person's own deliveries are theirs
            person.users.update([user_id] if user_id else [])
            person.anonymous.update([anonymous_id] if anonymous_id else [])
    anonymous = sorted(person.anonymous)
    person.events.update(
        session.scalars(select(d.event_id).where(d.id > since["deliveries"], among(d.id, sorted(person.deliveries))))
    )
    text = func.lower(func.coalesce(Event.payload.cast(Text), "") + func.coalesce(Event.raw_body, ""))
    in_text = [func.strpos(text, literal(f'"{e}"')) > 0 for e in emails] + [
        func.strpos(func.lower(func.coalesce(Event.raw_body, "")), literal(e)) > 0 for e in emails
    ]
    by_key = [among(Event.payload["userId"].astext, sorted(person.users))]
    unprocessed = Event.status != EventStatus.PROCESSED
    by_key.append(unprocessed & among(Event.payload["anonymousId"].astext, anonymous))
    person.events.update(session.scalars(select(Event.id).where(Event.id > since["events"], or_(*in_text, *by_key))))
    if emails:
        a = DeliveryAttempt
        person.attempts.update(
            session.scalars(
                select(a.id).where(
                    a.id > since["attempts"], a.error.is_not(None), or_(*[a.error.ilike(f"%{e}%") for e in emails])
                )
            )
        )
    person.seen = {
        "deliveries": session.scalar(select(func.coalesce(func.max(Delivery.id), 0))),
        "events": session.scalar(select(func.coalesce(func.max(Event.id), 0))),
        "attempts": session.scalar(select(func.coalesce(func.max(DeliveryAttempt.id), 0))),
    }


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
    emails, now = sorted(person.emails), utcnow()
    linked = tuple_(Identity.kind, Identity.value).in_(person.keys() or [("", "")])
    # With the integration ids the unique index (integration_id, email) finds the contacts.
    integrations, emailed = sorted(session.scalars(select(Integration.id))), among(Contact.email, emails)
    removed = {
        "contacts": _count(session, delete(Contact).where(among(Contact.integration_id, integrations), emailed)),
        "orders": _count(session, delete(Order).where(among(Order.email, emails))),
        "identities": _count(session, delete(Identity).where(or_(among(Identity.email, emails), linked))),
    }
    deliveries = sorted(person.deliveries)
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


def _count(session: Session, statement) -> int:
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0
