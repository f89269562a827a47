"""The event inbox: every message received, stored once by its messageId."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created, enum_values, json, pk


class EventStatus(enum.StrEnum):
    RECEIVED = "received"  # stored, waiting for the process task
    PROCESSED = "processed"  # mapped into one delivery per active integration
    REJECTED = "rejected"  # bad input: reason says what was wrong
    FAILED = "failed"  # processing crashed max_process_attempts times: set aside (poison)
    CONFLICTING = "conflicting"  # a stored messageId re-sent with a different event: recorded, not processed


class Event(Base):
    __tablename__ = "events"
    # Only received events are looked up by status (the sweep); processed ones, nearly all, are not indexed.
    __table_args__ = (
        Index("ix_events_received", "id", postgresql_where=text("status = 'received'")),
        # Live Events: events rejected (or set aside) at processing, newest first; they have no delivery.
        Index("ix_events_rejected", "processed_at", "id", postgresql_where=text("status IN ('rejected', 'failed')")),
    )

    id: Mapped[pk]
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[created]
    payload: Mapped[json | None]
    # The body as received when it was not a JSON object (cut to 64 KiB), so a rejection can be read.
    raw_body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[EventStatus] = mapped_column(
        Enum(EventStatus, native_enum=False, values_callable=enum_values, length=20),
        default=EventStatus.RECEIVED,
    )
    reason: Mapped[str | None] = mapped_column(Text)
    process_attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]
    # The timestamp the event claimed when it was more than SIGNAL_MAX_CLOCK_SKEW_HOURS after its arrival: its
    # field, consent and identity clocks, and its order's time, use `received_at` instead (mapping/ordering.py).
    clock_clamped_from: Mapped[datetime | None]
    # sha256 (hex) of the event without its transport fields (`sentAt`), or of the body's bytes when it was not
    # an event: a re-send of a stored messageId is a retry when its digest is the same, a conflict when not.
    digest: Mapped[str | None] = mapped_column(String(64))
    # On a conflicting event: the digest of the event stored under the messageId it re-used.
    conflicts_with: Mapped[str | None] = mapped_column(String(64))
