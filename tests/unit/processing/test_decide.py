"""workers/processing/decide.py: one (event, integration) pair decided on plain objects.

The batch is a real `Batch` over a stub session that has no integrations (its constructor's only query); its
contacts are `ContactState`s put in by hand, as `lock_contacts` would.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from mapping import MappedEvent, MappingConfig, Order, Status
from models import DeliveryStatus
from tests.unit.builders import NOW, integration
from workers.processing import decide as decide_module
from workers.processing.batch import Batch, Item
from workers.processing.decide import HELD_REASON, decide, set_consent
from workers.processing.store import ContactState

EMAIL = "ann@example.com"
INTEGRATION = integration(id=3)


class NoIntegrations:
    def scalars(self, _query: object) -> list:
        return []


def at(minutes: int) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat()


def contact(fields: dict | None = None, consent: bool | None = None, consent_minutes: int | None = None,
            lifetime_value: str = "0") -> ContactState:  # fmt: skip
    consent_at = NOW + timedelta(minutes=consent_minutes) if consent_minutes is not None else None
    return ContactState(1, INTEGRATION.id, EMAIL, fields or {}, consent, consent_at, Decimal(lifetime_value))


def make_batch(*contacts: ContactState, config: MappingConfig | None = None) -> Batch:
    batch = Batch(NoIntegrations())
    batch.configs[INTEGRATION.id] = config or MappingConfig()
    for state in contacts:
        batch.contacts[(state.integration_id, state.email)] = state
    return batch


def mapped(minutes: int = 0, status: Status = Status.MAPPED, kind: str = "track", **values: object) -> MappedEvent:
    reason = None if status == Status.MAPPED else values.pop("reason", "why")
    return MappedEvent(status, reason, "m-1", kind, NOW + timedelta(minutes=minutes), **values)


def item(event: MappedEvent, email: str | None = EMAIL, **values: object) -> Item:
    return Item(INTEGRATION, event, event_id=1, email=email, **values)


def run(batch: Batch, one: Item) -> dict:
    decide(batch, one)
    return one.row


# --- held, failed, skipped ------------------------------------------------------------------------------------


def test_without_a_contact_the_delivery_is_held():
    batch = make_batch()
    row = run(batch, item(mapped(fields={"first_name": "Ann"}), email=None))
    assert row == {"status": DeliveryStatus.HELD, "reason": HELD_REASON}
    assert batch.touched == set()


def test_an_email_without_a_locked_contact_is_held_too():
    assert run(make_batch(), item(mapped()))["status"] == DeliveryStatus.HELD


def test_a_row_failed_earlier_is_left_alone():
    state = contact()
    one = item(mapped(fields={"first_name": "Ann"}), row={"status": DeliveryStatus.FAILED, "reason": "bad config"})
    assert run(make_batch(state), one) == {"status": DeliveryStatus.FAILED, "reason": "bad config"}
    assert state.fields == {}


def test_an_event_the_integrations_mapping_rejects_fails():
    row = run(make_batch(contact()), item(mapped(status=Status.REJECTED, reason="traits.email: not an email")))
    assert row == {"status": DeliveryStatus.FAILED, "reason": "traits.email: not an email"}


def test_a_skipped_event_without_consent_news_is_skipped_and_touches_nothing():
    batch = make_batch(contact(consent=True, consent_minutes=0))
    row = run(batch, item(mapped(status=Status.SKIPPED, reason="unsupported event type: screen")))
    assert row == {"status": DeliveryStatus.SKIPPED, "reason": "unsupported event type: screen"}
    assert batch.touched == set()


def test_a_withdrawal_is_skipped_records_the_consent_and_touches_the_integration():
    state = contact(consent=True, consent_minutes=0)
    batch = make_batch(state)
    row = run(batch, item(mapped(5, status=Status.SKIPPED, reason="consent_denied", consent=False)))
    assert row == {"status": DeliveryStatus.SKIPPED, "reason": "consent_denied"}
    assert (state.consent, state.consent_at) == (False, NOW + timedelta(minutes=5))
    assert batch.touched == {INTEGRATION.id}  # the flush drops what is queued for the contact


def test_an_older_withdrawal_does_not_undo_a_newer_grant():
    state = contact(consent=True, consent_minutes=10)
    run(make_batch(state), item(mapped(5, status=Status.SKIPPED, reason="consent_denied", consent=False)))
    assert (state.consent, state.consent_at) == (True, NOW + timedelta(minutes=10))


# --- queued with the fields it changed ------------------------------------------------------------------------


def test_newer_fields_are_queued_and_written_into_the_state():
    state = contact({"first_name": ["Old", at(-10)], "city": ["Oslo", at(-10)]})
    batch = make_batch(state)
    row = run(batch, item(mapped(fields={"first_name": "Ann", "last_name": "Lee"})))
    assert row == {"status": DeliveryStatus.QUEUED, "reason": None, "patch": {"first_name": "Ann", "last_name": "Lee"}}
    assert state.fields == {"first_name": ["Ann", at(0)], "last_name": ["Lee", at(0)], "city": ["Oslo", at(-10)]}
    assert batch.touched == {INTEGRATION.id}


def test_only_the_fields_this_event_is_newest_for_are_in_the_patch():
    state = contact({"first_name": ["Newer", at(10)]})
    row = run(make_batch(state), item(mapped(fields={"first_name": "Older", "city": "Oslo"})))
    assert row["patch"] == {"city": "Oslo"}
    assert state.fields["first_name"] == ["Newer", at(10)]


def test_an_event_superseded_on_every_field_is_skipped():
    state = contact({"first_name": ["Newer", at(10)]})
    batch = make_batch(state)
    row = run(batch, item(mapped(fields={"first_name": "Older"})))
    assert row == {"status": DeliveryStatus.SKIPPED, "reason": "superseded: a newer event already set these fields"}
    assert batch.touched == set()


def test_a_tie_keeps_the_stored_value():
    state = contact({"first_name": ["First", at(0)]})
    assert run(make_batch(state), item(mapped(fields={"first_name": "Second"})))["status"] == DeliveryStatus.SKIPPED


def test_a_superseded_identify_is_still_queued_so_the_contact_is_added_to_the_list():
    state = contact({"first_name": ["Newer", at(10)]})
    row = run(make_batch(state), item(mapped(kind="identify", fields={"first_name": "Older"})))
    assert row == {"status": DeliveryStatus.QUEUED, "reason": None, "patch": {}}


def test_a_replay_names_every_field_of_its_event_even_superseded_ones():
    state = contact({"first_name": ["Newer", at(10)]})
    row = run(make_batch(state), item(mapped(fields={"first_name": "Older", "city": "Oslo"}), replayed=True))
    assert row["status"] == DeliveryStatus.QUEUED
    assert row["patch"] == {"first_name": "Older", "city": "Oslo"}  # the flush sends the state's values
    assert state.fields["first_name"] == ["Newer", at(10)]


# --- orders and lifetime value --------------------------------------------------------------------------------


def test_a_new_order_adds_to_lifetime_value_once():
    state = contact(lifetime_value="10.25")
    batch = make_batch(state)
    batch.new_orders = {(INTEGRATION.id, "o-1")}
    order = Order("o-1", Decimal("5.50"), "EUR")
    first = run(batch, item(mapped(fields={"last_purchase_at": "2026-11-01"}, order=order)))
    assert state.lifetime_value == Decimal("15.75")
    assert first["patch"]["lifetime_value"] == 15.75
    second = run(batch, item(mapped(1, fields={"last_purchase_at": "2026-11-02"}, order=order)))
    assert state.lifetime_value == Decimal("15.75")  # the batch held the order twice: counted once
    assert "lifetime_value" not in second["patch"]


def test_lifetime_value_goes_under_the_configured_name():
    state = contact()
    batch = make_batch(state, config=MappingConfig(lifetime_value_field="ltv"))
    batch.new_orders = {(INTEGRATION.id, "o-1")}
    row = run(batch, item(mapped(order=Order("o-1", Decimal("3"), None))))
    assert row["patch"] == {"ltv": 3.0}


def test_an_order_stored_before_adds_nothing():
    state = contact(lifetime_value="7")
    row = run(make_batch(state), item(mapped(order=Order("o-1", Decimal("3"), None))))
    assert state.lifetime_value == Decimal("7")
    assert row["status"] == DeliveryStatus.SKIPPED  # nothing changed for a track


def test_a_replayed_order_sends_the_current_lifetime_value():
    state = contact(lifetime_value="42.5")
    row = run(make_batch(state), item(mapped(order=Order("o-1", Decimal("3"), None)), replayed=True))
    assert row["patch"] == {"lifetime_value": 42.5}
    assert state.lifetime_value == Decimal("42.5")


# --- consent granted again ------------------------------------------------------------------------------------


def test_a_grant_after_a_withdrawal_sends_the_whole_state():
    state = contact({"first_name": ["Ann", at(-30)], "city": ["Oslo", at(-20)]}, False, -10, lifetime_value="12")
    batch = make_batch(state)
    row = run(batch, item(mapped(fields={"last_name": "Lee"}, consent=True)))
    assert row == {
        "status": DeliveryStatus.QUEUED,
        "reason": None,
        "patch": {"first_name": "Ann", "city": "Oslo", "last_name": "Lee", "lifetime_value": 12.0},
    }
    assert (state.consent, state.consent_at) == (True, NOW)
    assert batch.touched == {INTEGRATION.id}


def test_a_skipped_event_that_grants_again_queues_the_state_with_a_reason():
    state = contact({"first_name": ["Ann", at(-30)]}, False, -10)
    row = run(make_batch(state), item(mapped(status=Status.SKIPPED, reason="unsupported", consent=True)))
    assert row == {
        "status": DeliveryStatus.QUEUED,
        "reason": "consent granted again: the contact's state is sent",
        "patch": {"first_name": "Ann"},  # no lifetime value: none stored
    }


def test_a_first_grant_is_not_a_regrant():
    state = contact({"first_name": ["Ann", at(-30)]})
    row = run(make_batch(state), item(mapped(fields={"city": "Oslo"}, consent=True)))
    assert row["patch"] == {"city": "Oslo"}


# --- set_consent ----------------------------------------------------------------------------------------------


def test_set_consent_newest_wins_and_reports_a_regrant():
    state = contact(consent=False, consent_minutes=0)
    assert set_consent(state, True, NOW + timedelta(minutes=1)) is True
    assert (state.consent, state.consent_at) == (True, NOW + timedelta(minutes=1))


def test_set_consent_ignores_an_older_state():
    state = contact(consent=False, consent_minutes=0)
    assert set_consent(state, True, NOW - timedelta(seconds=1)) is False
    assert (state.consent, state.consent_at) == (False, NOW)


def test_set_consent_a_tie_is_applied():
    state = contact(consent=True, consent_minutes=0)
    assert set_consent(state, False, NOW) is False
    assert state.consent is False


@pytest.mark.parametrize(
    ("before", "granted", "regrant"),
    [(None, True, False), (True, True, False), (False, True, True), (True, False, False), (False, False, False)],
)
def test_set_consent_regrant_only_ends_a_withdrawal(before, granted, regrant):
    state = contact(consent=before, consent_minutes=0 if before is not None else None)
    assert set_consent(state, granted, NOW + timedelta(minutes=1)) is regrant
    assert state.consent is granted


def test_set_consent_without_a_time_is_now(monkeypatch):
    later = NOW + timedelta(days=1)
    monkeypatch.setattr(decide_module, "utcnow", lambda: later)
    state = contact(consent=False, consent_minutes=0)
    assert set_consent(state, True, None) is True
    assert state.consent_at == later
