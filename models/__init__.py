"""SQLAlchemy 2 models: integrations, the event inbox, deliveries and their attempts, contacts, orders, erasures."""

from models.base import Base
from models.console_session import ConsoleSession
from models.contact import Contact, Identity, Order
from models.delivery import (
    AttemptKind,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    ImportJob,
    ImportJobStatus,
)
from models.erasure import ErasedIdentifier, Erasure, ErasureStatus
from models.event import Event, EventStatus
from models.integration import Integration, IntegrationStatus
from models.retention import RetainedCount

__all__ = [
    "AttemptKind",
    "Base",
    "ConsoleSession",
    "Contact",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "ErasedIdentifier",
    "Erasure",
    "ErasureStatus",
    "Event",
    "EventStatus",
    "Identity",
    "ImportJob",
    "ImportJobStatus",
    "Integration",
    "IntegrationStatus",
    "Order",
    "RetainedCount",
]
