"""Erasure requests ("forget this person") and the keyed hashes that keep an erased person from coming back.

Nothing here holds personal data in clear: identifiers are HMAC-SHA256 digests under a server secret
(workers/privacy/hashing.py), and the identifier an erasure was asked for is kept encrypted only while SendGrid
still has work to do (`pending_secret`, a Fernet token, set to NULL when the erasure finishes).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created, enum_values, json, pk, utcnow
from models.contact import Identity
from models.delivery import DeliveryAttempt
from models.event import Event

NAME_LENGTH = 300  # event_names cuts each `kind:value` here (an index entry has a size limit)


class ErasureStatus(enum.StrEnum):
    PENDING = "pending"  # requested; nothing removed yet
    LOCAL_DONE = "local_done"  # removed here; SendGrid's contacts being found, deleted, their jobs followed
    COMPLETED = "completed"  # gone here and in every integration's SendGrid account
    FAILED = "failed"  # SendGrid refused for good (a revoked key past the retry window, ...): see error


class Erasure(Base):
    __tablename__ = "erasures"

    id: Mapped[pk]
    status: Mapped[ErasureStatus] = mapped_column(
        Enum(ErasureStatus, native_enum=False, values_callable=enum_values, length=20),
        default=ErasureStatus.PENDING,
    )
    subject_kind: Mapped[str] = mapped_column(String(20))  # "email" | "user_id": what the request named
    subject_digest: Mapped[str] = mapped_column(String(64), index=True)  # keyed hash of what it named
    requested_at: Mapped[created]
    # Fernet token of the emails and ids still needed to find SendGrid's contacts; NULL once finished.
    pending_secret: Mapped[str | None] = mapped_column(Text)
    removed: Mapped[json | None]  # table -> rows removed or redacted here
    sendgrid: Mapped[json | None]  # integration id -> {found, job_ids, deleted, status, error}
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)  # the last problem, redacted, never personal data
    local_done_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[created] = mapped_column(onupdate=utcnow)


class ErasedIdentifier(Base):
    """One keyed hash of an erased email, userId or anonymousId: processing drops events that name it and
    happened before `erased_at` (the erasure's request time)."""

    __tablename__ = "erased_identifiers"

    id: Mapped[pk]
    erasure_id: Mapped[int] = mapped_column(ForeignKey("erasures.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "email" | "user" | "anonymous"
    digest: Mapped[str] = mapped_column(String(64), index=True)
    erased_at: Mapped[datetime]
    # "request" (known when it was asked), "resolved" (by the local step), "learned" (from a later event)
    source: Mapped[str | None] = mapped_column(String(20))


def event_names(payload):
    """The SQL function of the migration: what an event names, as `kind:value` texts (emails lower-cased)."""
    return func.event_names(payload, type_=ARRAY(Text))


# Retention's indexes (workers/privacy/retention.py): events by age (it deletes the oldest), and the attempts whose
# error text is still kept (a row leaves that index once retention nulled the text).
Index("ix_events_received_at", Event.received_at)
# The erasure's (workers/privacy/records.py): events by what they name, the few kept as a raw body, identity links
# by email.
Index("ix_events_names", event_names(Event.payload), postgresql_using="gin")
Index("ix_events_raw_body", Event.id, postgresql_where=text("raw_body IS NOT NULL"))
Index("ix_identities_email", Identity.email)
Index("ix_delivery_attempts_error_kept", DeliveryAttempt.created_at, postgresql_where=text("error IS NOT NULL"))
