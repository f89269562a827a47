"""The values the mapping layer hands to the worker: one `MappedEvent` per incoming event.

Every event ends in exactly one of three states (`Status`): mapped (something to send), skipped (deliberately
not sent, with a machine-readable reason) or rejected (malformed, with a reason naming the field). The
dataclasses are frozen; `fields` is a plain dict so the worker can copy it and add `lifetime_value`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

NOTES_MAX_LENGTH = 1000


class Status(StrEnum):
    """Outcome of mapping one event; compares equal to the plain strings."""

    MAPPED = "mapped"
    SKIPPED = "skipped"
    REJECTED = "rejected"


class SkipReason(StrEnum):
    """Skip reasons that carry no event data. Unsupported events use `unsupported_reason()`."""

    CONSENT_DENIED = "consent_denied"
    CONSENT_MISSING = "consent_missing"
    DISABLED_BY_INTEGRATIONS = "disabled_by_integrations"


@dataclass(frozen=True)
class Order:
    """One completed order, as extracted from `Order Completed`; the worker de-duplicates by `order_id`."""

    order_id: str
    revenue: Decimal  # properties.revenue, else properties.total; as given (no float rounding); missing -> 0
    currency: str | None


@dataclass(frozen=True)
class MappedEvent:
    """The outcome of `map_event`. `reason` is None exactly when `status` is mapped."""

    status: Status
    reason: str | None
    message_id: str | None
    kind: str | None
    timestamp: datetime | None  # aware UTC; the arrival when the event claimed a time too far after it
    email: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    fields: Mapping[str, object] = field(default_factory=dict)
    order: Order | None = None
    consent: bool | None = None
    notes: tuple[str, ...] = ()
    clock_clamped_from: datetime | None = None  # the timestamp claimed, when `timestamp` is its arrival instead

    @property
    def recorded_notes(self) -> str | None:
        """The notes in one line, as a processed event records them (`events.reason`): what was refused, left
        out, cut or replaced while the rest of the event was mapped. None when there are none."""
        if not self.notes:
            return None
        text = "; ".join(self.notes)
        return text if len(text) <= NOTES_MAX_LENGTH else text[: NOTES_MAX_LENGTH - 3] + "..."
