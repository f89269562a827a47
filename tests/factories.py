"""factory-boy factories for the records, and Datafly events as upstream services send them.

With the `factories` fixture (tests/fixtures/factories.py) a factory call adds its row in a session of the test's
`db` and commits it (a SAVEPOINT released in the rolled-back default, a real commit under `committed_db`), so the
code under test sees it: `DeliveryFactory(status=DeliveryStatus.FAILED)` makes its integration and event too.
Without the fixture a call only builds the object (the caller adds it to a session of its own).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import factory
from factory.alchemy import SQLAlchemyModelFactory

from config.secrets import encrypt_key, mask_key
from models import Contact, Delivery, DeliveryStatus, Event, EventStatus, Integration, IntegrationStatus
from models.base import utcnow
from tests.fixtures.services import TEST_SECRET

BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class RecordFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_persistence = "commit"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # noqa: ANN001, ANN206 - factory-boy's hook
        if cls._meta.sqlalchemy_session is None:
            return cls._build(model_class, *args, **kwargs)  # unbound: the caller adds the row
        return super()._create(model_class, *args, **kwargs)


class IntegrationFactory(RecordFactory):
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


class EventFactory(RecordFactory):
    """A stored event, processed unless `status` says otherwise; `payload` an identify by default."""

    class Meta:
        model = Event

    class Params:
        email = factory.Sequence(lambda n: f"person{n}@example.com")

    message_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    type = "identify"
    payload = factory.LazyAttribute(lambda o: identify(o.email, o.email.split("@")[0], messageId=o.message_id))
    status = EventStatus.PROCESSED
    received_at = factory.LazyFunction(utcnow)
    processed_at = factory.LazyAttribute(lambda o: o.received_at if o.status == EventStatus.PROCESSED else None)


class ContactFactory(RecordFactory):
    """A contact of an integration (a new one unless `integration_id` is given)."""

    class Meta:
        model = Contact

    class Params:
        integration = factory.SubFactory(IntegrationFactory)

    integration_id = factory.SelfAttribute("integration.id")
    email = factory.Sequence(lambda n: f"contact{n}@example.com")
    fields = factory.LazyFunction(dict)


class DeliveryFactory(RecordFactory):
    """A queued delivery of a processed event to an integration (both made unless their ids are given)."""

    class Meta:
        model = Delivery

    class Params:
        integration = factory.SubFactory(IntegrationFactory)
        event = factory.SubFactory(EventFactory, email=factory.SelfAttribute("..email"))

    integration_id = factory.SelfAttribute("integration.id")
    event_id = factory.SelfAttribute("event.id")
    kind = "identify"
    email = factory.Sequence(lambda n: f"delivery{n}@example.com")
    patch = factory.LazyFunction(dict)
    status = DeliveryStatus.QUEUED
    attempts = 0
    replay_count = 0
    created_at = factory.LazyFunction(utcnow)
    updated_at = factory.SelfAttribute("created_at")


RECORD_FACTORIES = (IntegrationFactory, EventFactory, ContactFactory, DeliveryFactory)


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
