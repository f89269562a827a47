"""Erasure requests: `signal-sendgrid forget` and `POST /v1/admin/privacy/erasures` create one; the task
`signal.run_erasure(id)` removes the person here (the local step, below), then in SendGrid (remote.py).

The request resolves the person at once (the emails, userIds and anonymousIds linked to what it names) and stores
their keyed hashes, so processing starts dropping the person's earlier events at the request's commit. The
identifiers themselves are kept only as a Fernet token (`pending_secret`) until the erasure is finished, then set
to NULL: what stays is the record of what was done, without personal data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.secrets import decrypt_key, encrypt_key, secret_for
from config.settings import Settings
from models import ErasedIdentifier, Erasure, ErasureStatus, Integration
from models.base import utcnow
from workers.privacy import records
from workers.privacy.guard import hold_exclusive
from workers.privacy.hashing import hasher_for


class ErasureError(ValueError):
    """A request that cannot be carried out (no identifier, a malformed email); its message says which."""


@dataclass(frozen=True)
class Subject:
    kind: str  # "email" | "user_id"
    value: str

    @classmethod
    def of(cls, email: str | None = None, user_id: str | None = None) -> Subject:
        if bool(email) == bool(user_id):
            raise ErasureError("give exactly one of email or user_id")
        if email:
            email = email.strip().lower()
            if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
                raise ErasureError("email is not an email address")
            return cls("email", email)
        if len(user_id) > 200:
            raise ErasureError("user_id is longer than 200 characters")
        return cls("user_id", user_id)

    @property
    def digest_kind(self) -> str:
        return "email" if self.kind == "email" else "user"


def request_erasure(session: Session, settings: Settings, subject: Subject) -> Erasure:
    """Record the request with the keyed hash of every identifier linked to the person now (emails, userIds,
    anonymousIds): processing drops their earlier events from this transaction's commit on."""
    hasher, now = hasher_for(settings), utcnow()
    person = records.Person(emails={subject.value} if subject.kind == "email" else set())
    person.users.update([subject.value] if subject.kind == "user_id" else [])
    records.resolve(session, person)
    erasure = Erasure(
        status=ErasureStatus.PENDING,
        subject_kind=subject.kind,
        subject_digest=hasher.digest(subject.digest_kind, subject.value),
        requested_at=now,
        pending_secret=seal(person, settings),
        attempts=0,
        next_attempt_at=now,
    )
    session.add(erasure)
    session.flush()
    record_identifiers(session, erasure, person, hasher, "request")
    session.flush()
    return erasure


def seal(person: records.Person, settings: Settings) -> str:
    """The person's identifiers as a Fernet token (what the erasure still needs in clear)."""
    clear = {"emails": sorted(person.emails), "users": sorted(person.users), "anonymous": sorted(person.anonymous)}
    return encrypt_key(json.dumps(clear), secret_for(settings))


def pending(erasure: Erasure, settings: Settings) -> dict:
    """What the erasure still needs in clear (decrypted only in memory)."""
    return json.loads(decrypt_key(erasure.pending_secret, secret_for(settings))) if erasure.pending_secret else {}


def person_of(erasure: Erasure, settings: Settings) -> records.Person:
    """The person as last recorded, limited to what happened before the request."""
    wanted = pending(erasure, settings)
    person = records.Person(before=erasure.requested_at)
    person.emails.update(wanted.get("emails", []) + list(filter(None, [wanted.get("email")])))  # older records: one
    person.users.update(wanted.get("users", []) + list(filter(None, [wanted.get("user_id")])))
    person.anonymous.update(wanted.get("anonymous", []))
    return person


def erase_locally(sessions: sessionmaker[Session], erasure_id: int, settings: Settings) -> None:
    """Remove or redact every row of the person here, in one transaction under the erasure lock (processing
    waits; the search is index lookups); idempotent (a second run finds the erasure done)."""
    with sessions.begin() as session:
        hold_exclusive(session)
        erasure = session.get(Erasure, erasure_id, with_for_update=True)
        if erasure is None or erasure.status != ErasureStatus.PENDING:
            return
        person = person_of(erasure, settings)
        records.resolve(session, person)  # links a batch made while the request committed
        records.find_rows(session, person)
        record_identifiers(session, erasure, person, hasher_for(settings), "resolved")
        withdrawn = records.withdrawn_unforwarded(session, person)
        records.lock_deliveries(session, person)  # a flush round sending them finishes first
        erasure.removed = records.remove(session, person)
        imports = records.pending_imports(session, person)
        erasure.sendgrid = {
            str(i): {
                "step": "suppress" if i in withdrawn else ("wait" if imports.get(i) else "search"),
                "wait_jobs": imports.get(i, []),
                "found": 0,
                "job_ids": [],
                "deleted": 0,
                "rounds": 0,
            }
            for i in session.scalars(select(Integration.id).order_by(Integration.id))
        }
        erasure.pending_secret = seal(person, settings)
        erasure.status, erasure.local_done_at = ErasureStatus.LOCAL_DONE, utcnow()


def remains(session: Session, erasure: Erasure, settings: Settings) -> dict[int, list[str]]:
    """The last check before `completed`, under the erasure lock: rows of the person that came after the local
    step (an event stored while the pool was busy, still waiting to be processed) are redacted and counted in
    `removed`. Returns integration -> import jobs that still carry the person (none expected: SendGrid is then
    searched again after them)."""
    hold_exclusive(session)
    person = person_of(erasure, settings)
    records.find_rows(session, person)
    if not person.found():
        return {}
    records.lock_deliveries(session, person)
    late = records.redact(session, person)
    removed = dict(erasure.removed or {})
    for table, n in late.items():
        removed[table] = removed.get(table, 0) + n
    removed["after_local_step"] = removed.get("after_local_step", 0) + sum(late.values())
    erasure.removed = removed
    record_identifiers(session, erasure, person, hasher_for(settings), "resolved")
    erasure.pending_secret = seal(person, settings)
    return records.pending_imports(session, person)


def record_identifiers(session: Session, erasure: Erasure, person: records.Person, hasher, source: str) -> None:
    """A keyed hash of every email, userId and anonymousId of the person, dated at the request."""
    known = set(session.scalars(select(ErasedIdentifier.digest).where(ErasedIdentifier.erasure_id == erasure.id)))
    for kind, value in person.identifiers():
        digest = hasher.digest(kind, value)
        if digest not in known:
            known.add(digest)
            at = erasure.requested_at
            session.add(ErasedIdentifier(erasure_id=erasure.id, kind=kind, digest=digest, erased_at=at, source=source))
