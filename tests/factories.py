"""factory-boy factories for the records, and Datafly events as upstream services send them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import factory

from config.secrets import encrypt_key, mask_key
from models import Integration, IntegrationStatus
from tests.fixtures.services import TEST_SECRET

BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class IntegrationFactory(factory.Factory):
    class Meta:
        model = Integration

    class Params:
        api_key = "SG.SandboxDemoKeyPublic00.signal-sendgrid-sandbox-demo-key-not-secret"

    name = factory.Sequence(lambda n: f"SendGrid {n}")
    variant = "default"
    delivery_mode = "server_side"
    status = IntegrationStatus.ACTIVE
    api_key_encrypted = factory.LazyAttribute(lambda o: encrypt_key(o.api_key, TEST_SECRET))
    api_key_hint = factory.LazyAttribute(lambda o: mask_key(o.api_key))
    api_url = "http://127.0.0.1:9"
    default_list_id = None
    config = factory.LazyFunction(dict)
    field_ids = factory.LazyFunction(dict)


def event(type_: str = "identify", minutes: int = 0, **fields) -> dict:
    """A Datafly event; `minutes` shifts its timestamp from BASE_TIME."""
    body = {
        "messageId": fields.pop("messageId", str(uuid.uuid4())),
        "type": type_,
        "timestamp": (BASE_TIME + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
    }
    body.update(fields)
    return body


def identify(email: str, user_id: str, minutes: int = 0, **traits) -> dict:
    return event("identify", minutes, userId=user_id, traits={"email": email, **traits})
