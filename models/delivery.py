"""Deliveries (one per integration and event), the HTTP attempts that carried them, and import jobs."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created, enum_values, json, pk, utcnow


class DeliveryStatus(enum.StrEnum):
    HELD = "held"  # the visitor's email is not known yet; released by a later identify
    QUEUED = "queued"  # waiting for the next flush (next_attempt_at set when it is a retry)
    SENT = "sent"  # SendGrid accepted it (202 with a job id); the import job is being polled
    SUCCEEDED = "succeeded"  # the import job finished without error
    IMPORT_ERRORED = "import_errored"  # the import job reported errors
    FAILED = "failed"  # given up: SendGrid rejected it, or the retry window passed; replayable
    SKIPPED = "skipped"  # deliberately not sent: reason says why (consent_denied, no_identity, ...)


# What replay may send again: given up (failed), refused inside SendGrid's import job, deliberately not sent.
# Defined here, beside the statuses, so that the replay stage and the interfaces' vocabulary share one tuple.
REPLAYABLE = (DeliveryStatus.FAILED, DeliveryStatus.IMPORT_ERRORED, DeliveryStatus.SKIPPED)


class AttemptKind(enum.StrEnum):
    UPSERT = "upsert"
    IMPORT_POLL = "import_poll"
    FIELD_DEFINITIONS = "field_definitions"
    SUPPRESSION = "suppression"
    SCOPES = "scopes"
    LISTS = "lists"
    CONTACT_SEARCH = "contact_search"  # erasure: finding the person's SendGrid contact
    CONTACT_DELETE = "contact_delete"  # erasure: DELETE /v3/marketing/contacts?ids=...
    DELETE_POLL = "delete_poll"  # erasure: following the deletion job


def _partial(name: str, columns: list[str], where: str) -> Index:
    return Index(name, *columns, postgresql_where=text(where))


def _live(name: str, *columns: str, include: tuple[str, ...]) -> Index:
    return Index(f"ix_deliveries_{name}", *columns, postgresql_include=list(include))


class Delivery(Base):
    __tablename__ = "deliveries"
    # Partial indexes, each on the one status it serves: a delivery changes status two or three times, and
    # an index on `status` itself would take a new entry at every change. Queries on them name the status
    # with models.base.has_status, so that prepared plans can match the predicate.
    __table_args__ = (
        # Event first: the unique index also finds an event's deliveries (Live Events' search, the detail page).
        UniqueConstraint("event_id", "integration_id", name="uq_deliveries_event_integration"),
        _partial("ix_deliveries_queued", ["integration_id", "id"], "status = 'queued'"),  # the flush
        _partial("ix_deliveries_sent_job", ["job_id"], "status = 'sent'"),  # settling an import job
        _partial("ix_deliveries_held_user", ["user_id"], "status = 'held'"),  # released by an identify
        _partial("ix_deliveries_held_anonymous", ["anonymous_id"], "status = 'held'"),
        _partial("ix_deliveries_held_created", ["created_at"], "status = 'held'"),  # expiry of the hold
        _partial("ix_deliveries_failed", ["id"], "status IN ('failed', 'import_errored')"),  # replay
        # Live Events (workers.services.timeline), newest first by (created_at, id): one index per filter it leads
        # with, each carrying the other filtered columns, so that any combination of filters is an index-only
        # scan of one of them. These are full indexes: a status change already writes an entry in every full
        # index (status is in the partial indexes' predicates, so that update is never HOT), and one of these
        # costs what a partial index per status would; an update that keeps the status stays HOT.
        _live("created", "created_at", "id", include=("status", "kind", "integration_id")),
        _live("status_created", "status", "created_at", "id", include=("kind", "integration_id")),
        _live("kind_created", "kind", "created_at", "id", include=("status", "integration_id")),
        _live("integration_created", "integration_id", "created_at", "id", include=("status", "kind")),
        # Search by email, exact or prefix (LIKE 'prefix%' needs the pattern operators outside the C collation).
        Index("ix_deliveries_email", "email", postgresql_ops={"email": "text_pattern_ops"}),
    )

    id: Mapped[pk]
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    kind: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    user_id: Mapped[str | None] = mapped_column(String(200))
    anonymous_id: Mapped[str | None] = mapped_column(String(200))
    event_at: Mapped[datetime | None]
    # Contact field name -> value: what this event changes (already filtered by the newest-wins rule).
    patch: Mapped[json | None]
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, values_callable=enum_values, length=20),
        default=DeliveryStatus.QUEUED,
    )
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    replay_count: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(64))
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("delivery_attempts.id", ondelete="SET NULL"))
    # Every upsert that carried it, in order (attempt_id is the last). An array, not a join table: the flush's
    # UPDATE of the delivery appends to it, where a table would take a row per delivery and request (up to
    # 30,000 per request) and an index entry for each. No foreign key: an id whose attempt is gone is skipped.
    attempt_ids: Mapped[list[int] | None] = mapped_column(postgresql.ARRAY(BigInteger))
    status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[created]
    updated_at: Mapped[created] = mapped_column(onupdate=utcnow)


class DeliveryAttempt(Base):
    """One HTTP request to SendGrid. Error texts are redacted: never a key."""

    __tablename__ = "delivery_attempts"

    id: Mapped[pk]
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AttemptKind] = mapped_column(
        Enum(AttemptKind, native_enum=False, values_callable=enum_values, length=30)
    )
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(300))
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no answer (timeout, reset)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    contacts_count: Mapped[int] = mapped_column(Integer, default=0)
    body_bytes: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(64))
    ratelimit_limit: Mapped[int | None] = mapped_column(Integer)
    ratelimit_remaining: Mapped[int | None] = mapped_column(Integer)
    ratelimit_reset: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created]


class ImportJobStatus(enum.StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    ERRORED = "errored"
    FAILED = "failed"
    STUCK = "stuck"  # still pending past the limit: flagged for a person


class ImportJob(Base):
    """A SendGrid import job (the 202's job_id), polled until SendGrid says it finished."""

    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_due", "status", "next_poll_at"),)

    id: Mapped[pk]
    job_id: Mapped[str] = mapped_column(String(64), unique=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    status: Mapped[ImportJobStatus] = mapped_column(
        Enum(ImportJobStatus, native_enum=False, values_callable=enum_values, length=20),
        default=ImportJobStatus.PENDING,
    )
    contacts_count: Mapped[int] = mapped_column(Integer, default=0)
    polls: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None]
    results: Mapped[json | None]
    created_at: Mapped[created]
    finished_at: Mapped[datetime | None]
