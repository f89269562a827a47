"""What this product knows of each contact: identity links, field clocks, consent and orders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created, json, pk, utcnow


class Identity(Base):
    """A userId or anonymousId linked to an email by an identify (the newest identify wins).

    A key seen by processing before any identify linked it has a row without an email: the row that a batch
    holding the visitor's event and a batch linking the visitor both lock, so that they cannot miss each other.
    """

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_identities_kind_value"),)

    id: Mapped[pk]
    kind: Mapped[str] = mapped_column(String(20))  # "user" | "anonymous"
    value: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))  # None: not linked yet
    linked_at: Mapped[datetime | None]  # timestamp of the identify that made the link


# Consent withdrawn but not in the unsubscribe group, or granted while still in it: a change to forward.
CONSENT_UNFORWARDED = "(consent IS false AND NOT suppressed) OR (consent IS true AND suppressed)"


class Contact(Base):
    """Per integration and email: the newest value of each field with its event time, and consent."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("integration_id", "email", name="uq_contacts_integration_email"),
        # Contacts whose consent SendGrid's unsubscribe group does not reflect yet: the flush and the sweep find
        # them without reading every contact (nearly all are in step).
        Index("ix_contacts_consent_unforwarded", "integration_id", postgresql_where=text(CONSENT_UNFORWARDED)),
    )

    id: Mapped[pk]
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    # field name -> [value, ISO timestamp of the event that set it]
    fields: Mapped[json] = mapped_column(default=dict)
    consent: Mapped[bool | None]
    consent_at: Mapped[datetime | None]
    # Whether the email is in the integration's unsubscribe group on SendGrid (what we last told it).
    suppressed: Mapped[bool] = mapped_column(default=False)
    lifetime_value: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0))
    updated_at: Mapped[created] = mapped_column(onupdate=utcnow)


class Order(Base):
    """One order per integration and order_id: lifetime value sums these, so nothing counts twice."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("integration_id", "order_id", name="uq_orders_integration_order"),)

    id: Mapped[pk]
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254), index=True)
    order_id: Mapped[str] = mapped_column(String(200))
    revenue: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(10))
    ordered_at: Mapped[datetime]
    created_at: Mapped[created]
