"""One vocabulary for the interfaces, derived from the enums: statuses, the sets of them that mean something,
event types, and how a time or a `trait=field` option is read. Written here once; the API, the console and the
CLI import it."""

from __future__ import annotations

from datetime import UTC, datetime

from mapping.config import parse_field_option
from models import DeliveryStatus, EventStatus
from models.delivery import REPLAYABLE  # what replay may send again (the replay stage uses the same tuple)

__all__ = [
    "EVENT_STATUSES",
    "EVENT_TYPES",
    "REJECTED",
    "REPLAYABLE",
    "TIMELINE_STATUSES",
    "parse_field_option",
    "parse_time",
]

EVENT_STATUSES = tuple(EventStatus)

# Live Events' status filter: each delivery status in the order of a delivery's life, then events refused before
# any delivery (rejected at processing, or set aside as poison).
REJECTED = EventStatus.REJECTED.value
TIMELINE_STATUSES = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
    DeliveryStatus.SUCCEEDED,
    DeliveryStatus.HELD,
    DeliveryStatus.SKIPPED,
    DeliveryStatus.FAILED,
    DeliveryStatus.IMPORT_ERRORED,
    REJECTED,
)

# The kinds of event Live Events can filter on (`track` is every other track event).
EVENT_TYPES = ("identify", "page", "product_viewed", "order_completed", "track")


def parse_time(text: str) -> datetime:
    """ISO 8601, `Z` allowed; without a zone it is UTC (what a datetime-local input sends). A `+` that a URL
    query unescaped into a space is read back as `+`. Raises ValueError with the text it could not read."""
    cleaned = text.strip().replace("Z", "+00:00")
    date, sep, clock = cleaned.partition("T")
    try:
        parsed = datetime.fromisoformat(date + sep + clock.replace(" ", "+"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time (e.g. 2026-11-26T03:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
