"""The record factories: bound by `factories` they add committed rows the code under test sees (inside the
rolled-back default `db`), a delivery brings its integration and event, and unbound they only build."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Contact, Delivery, DeliveryStatus, Event, EventStatus, Integration
from tests.factories import ContactFactory, DeliveryFactory, EventFactory, IntegrationFactory

pytestmark = pytest.mark.integration


def test_a_delivery_brings_its_integration_and_event_and_other_sessions_see_them(factories, db):
    delivery = DeliveryFactory(status=DeliveryStatus.FAILED, email="ada@example.com")
    with db.begin() as session:  # as code taking a sessionmaker would read it
        stored = session.get(Delivery, delivery.id)
        assert (stored.status, stored.email, stored.attempts) == (DeliveryStatus.FAILED, "ada@example.com", 0)
        assert session.get(Integration, stored.integration_id).api_key_hint.startswith("SG.")
        event = session.get(Event, stored.event_id)
        assert event.status == EventStatus.PROCESSED and event.type == event.payload["type"] == "identify"


def test_rows_share_an_integration_when_told(factories, db):
    integration = IntegrationFactory()
    ContactFactory.create_batch(3, integration=integration)
    DeliveryFactory(integration=integration, event=EventFactory(status=EventStatus.RECEIVED))
    with db() as session:
        assert (
            session.scalar(select(func.count()).select_from(Contact).where(Contact.integration_id == integration.id))
            == 3
        )
        assert session.scalar(select(func.count()).select_from(Integration)) == 1
        assert session.scalar(select(Event.status)) == EventStatus.RECEIVED


def test_the_rows_are_gone_after_a_rolled_back_test(db):
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_unbound_a_factory_only_builds():
    integration = IntegrationFactory()
    assert integration.id is None and integration.name.startswith("SendGrid ")
