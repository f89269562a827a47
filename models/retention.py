"""Counts kept of rows retention deleted: per day, record (events or deliveries), integration, status and kind.

The statistics add these to the rows still stored, so `stats` counts every event ever received after the events
themselves are gone (workers/privacy/retention.py).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, pk


class RetainedCount(Base):
    __tablename__ = "retained_counts"
    __table_args__ = (
        UniqueConstraint("day", "record", "integration_id", "status", "kind", name="uq_retained_counts_key"),
    )

    id: Mapped[pk]
    day: Mapped[date] = mapped_column(Date)  # events: received_at's day; deliveries: created_at's (UTC)
    record: Mapped[str] = mapped_column(String(20))  # "events" | "deliveries"
    integration_id: Mapped[int] = mapped_column(Integer, default=0)  # 0 for events (no integration)
    status: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40), default="")  # event type / delivery kind, "" when none
    count: Mapped[int] = mapped_column(BigInteger, default=0)
