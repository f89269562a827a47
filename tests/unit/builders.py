"""Plain objects for the unit layer: transient ORM rows (never added to a session) and SendGrid answers."""

from __future__ import annotations

from datetime import UTC, datetime

from models import Delivery, DeliveryStatus, Integration, IntegrationStatus
from workers.sendgrid.client import RateLimit, SendGridResponse

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def integration(**values: object) -> Integration:
    defaults: dict = {
        "id": 7,
        "name": "SendGrid",
        "status": IntegrationStatus.ACTIVE,
        "default_list_id": "list-1",
        "config": {},
        "field_ids": {},
        "paused_until": None,
    }
    return Integration(**{**defaults, **values})


def delivery(id_: int, email: str | None = None, **values: object) -> Delivery:
    defaults: dict = {
        "integration_id": 7,
        "event_id": id_,
        "kind": "track",
        "email": email or f"c{id_}@example.com",
        "status": DeliveryStatus.QUEUED,
        "attempts": 0,
        "created_at": NOW,
        "patch": {},
    }
    return Delivery(id=id_, **{**defaults, **values})


def answer(status: int | None, body: object = None, ratelimit: RateLimit | None = None, **values: object):
    return SendGridResponse("PUT", "/v3/marketing/contacts", status, body, ratelimit=ratelimit or RateLimit(), **values)
