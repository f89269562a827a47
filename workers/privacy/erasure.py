"""Erasure requests: `signal-sendgrid forget` and `POST /v1/admin/privacy/erasures` create one; the task
`signal.run_erasure(id)` removes the person here (the local step, below), then in SendGrid (remote.py).

The request stores the keyed hash of what it names at once, so processing starts dropping the person's earlier
events at the request's commit. The identifier itself is kept only as a Fernet token (`pending_secret`) until
SendGrid's side is finished, then set to NULL: what stays is the record of what was done, without personal data.
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
    """Record the request and the subject's keyed hash (processing drops their earlier events from the commit on)."""
    hasher, now = hasher_for(settings), utcnow()
    erasure = Erasure(
        status=ErasureStatus.PENDING,
        subject_kind=subject.kind,
        subject_digest=hasher.digest(subject.digest_kind, subject.value),
        requested_at=now,
        pending_secret=encrypt_key(json.dumps({subject.kind: subject.value}), secret_for(settings)),
        attempts=0,
        next_attempt_at=now,
    )
    session.add(erasure)
    session.flush()
    session.add(
        ErasedIdentifier(erasure_id=erasure.id, kind=subject.digest_kind, digest=erasure.subject_digest, erased_at=now)
    )
    session.flush()
    return erasure


def pending(erasure: Erasure, settings: Settings) -> dict:
    """What the erasure still needs in clear (decrypted only in memory)."""
    return json.loads(decrypt_key(erasure.pending_secret, secret_for(settings))) if erasure.pending_secret else {}


def erase_locally(sessions: sessionmaker[Session], erasure_id: int, settings: Settings) -> None:
    """Remove or redact every row of the person here; idempotent (a second run finds the erasure done)."""
    with sessions.begin() as session:
        erasure = session.get(Erasure, erasure_id)
        if erasure is None or erasure.status != ErasureStatus.PENDING:
            return
        wanted = pending(erasure, settings)
        person = records.Person(emails=set(filter(None, [wanted.get("email")])))
        person.users.update(filter(None, [wanted.get("user_id")]))
        # The long searches run without the lock; under it only the rows that came since are searched.
        records.resolve(session, person)
        records.find_rows(session, person)
    with sessions.begin() as session:
        hold_exclusive(session)
        erasure = session.get(Erasure, erasure_id, with_for_update=True)
        if erasure is None or erasure.status != ErasureStatus.PENDING:
            return
        records.resolve(session, person)
        records.find_rows(session, person, tail=True)
        record_identifiers(session, erasure, person, hasher_for(settings))
        imports = records.pending_imports(session, person)
        withdrawn = records.withdrawn_unforwarded(session, person)
        erasure.removed = records.remove(session, person)
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
        erasure.pending_secret = encrypt_key(json.dumps({"emails": sorted(person.emails)}), secret_for(settings))
        erasure.status, erasure.local_done_at = ErasureStatus.LOCAL_DONE, utcnow()


def record_identifiers(session: Session, erasure: Erasure, person: records.Person, hasher) -> None:
    """A keyed hash of every email, userId and anonymousId of the person, dated at the request."""
    known = set(session.scalars(select(ErasedIdentifier.digest).where(ErasedIdentifier.erasure_id == erasure.id)))
    for kind, value in person.identifiers():
        digest = hasher.digest(kind, value)
        if digest not in known:
            known.add(digest)
            at = erasure.requested_at
            session.add(ErasedIdentifier(erasure_id=erasure.id, kind=kind, digest=digest, erased_at=at))
