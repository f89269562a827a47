"""A list or object given for a standard contact field goes through the real processing (PostgreSQL, the sandbox
over HTTP): the contact gets every other field, never the JSON text, and the event records why the field was
left out (`events.reason` of a processed event, shown by `signal-sendgrid events --status processed`)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Event
from tests.factories import identify
from tests.helpers.privacy import deliver, store

pytestmark = pytest.mark.integration

EMAIL = "typed.tess@example.com"


def test_a_list_as_first_name_is_refused_with_its_reason_and_the_rest_is_delivered(db, sandbox, integration):
    wrong = identify(EMAIL, "tess-1", 1, first_name=[], last_name="Tate", phone={"mobile": "+4930"})
    clean = identify("clean.carl@example.com", "carl-1", 1, first_name="Carl")
    ids = store(db, wrong, clean)
    deliver(db, sandbox, ids)

    contact = sandbox.contact(EMAIL)
    assert contact is not None and contact.get("last_name") == "Tate"
    assert contact.get("first_name") in (None, "") and contact.get("phone_number") in (None, "")
    assert "[]" not in str(contact) and "mobile" not in str(contact)
    with db() as session:
        events = {e.id: e for e in session.scalars(select(Event).where(Event.id.in_(ids)))}
    tess, carl = events[ids[0]], events[ids[1]]
    assert tess.status == "processed" and tess.reason == (
        "traits.first_name: expected text, got a list; first_name left out; "
        "traits.phone: expected text, got an object; phone_number left out"
    )
    assert carl.status == "processed" and carl.reason is None
