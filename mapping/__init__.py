"""Pure mapping of Datafly events to SendGrid contact data: no database, no HTTP, no Celery.

The worker calls `map_event` for each event, keeps per-field state with `newer_fields`, and builds the
upsert body with `contact_for_sendgrid`. See docs/mapping.md for the field-by-field rules.
"""

from mapping.coerce import CUSTOM_TEXT_LIMIT, EMAIL_MAX_LENGTH, RESERVED_LIMITS, format_date
from mapping.config import RESERVED_FIELD_NAMES, MappingConfig, parse_field_option
from mapping.contact import ContactSchema, UnknownCustomField, contact_for_sendgrid
from mapping.ordering import DEFAULT_MAX_CLOCK_SKEW, event_time, newer_fields
from mapping.pipeline import NO_IDENTITY, map_event
from mapping.result import MappedEvent, Order, SkipReason, Status
from mapping.rules import track_kind
from mapping.schemas import EventSchema, normalize_email

__all__ = [
    "CUSTOM_TEXT_LIMIT",
    "DEFAULT_MAX_CLOCK_SKEW",
    "EMAIL_MAX_LENGTH",
    "NO_IDENTITY",
    "RESERVED_FIELD_NAMES",
    "RESERVED_LIMITS",
    "ContactSchema",
    "EventSchema",
    "MappedEvent",
    "MappingConfig",
    "Order",
    "SkipReason",
    "Status",
    "UnknownCustomField",
    "contact_for_sendgrid",
    "event_time",
    "format_date",
    "map_event",
    "newer_fields",
    "normalize_email",
    "parse_field_option",
    "track_kind",
]
