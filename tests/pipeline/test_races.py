"""The races of issue #13, each forced on purpose, against real PostgreSQL and the sandbox over HTTP.

- The merge order: a held delivery released in the same batch as fresh events of that contact has an older
  id than the fresh ones but was decided after them; SendGrid must still end with the newest state.
- The release race, both ways round: a visitor's event held by one batch while another batch, in another
  session, links that visitor with an identify. Two threads, each with its own session and transaction,
  interleaved with events so that each reads before the other commits.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from models import Delivery, Identity
from models.base import utcnow
from tests.factories import event, identify
from workers.delivery.flush import flush_integration
from workers.delivery.imports import poll_imports
from workers.ingest.inbox import Incoming, store_events
from workers.processing.process import process_claimed, process_events, release_linked_held
from workers.sendgrid.client import SendGridClient

# Races between sessions on connections of their own: their commits must be real.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("committed_db")]

EMAIL = "race@example.com"
WAIT = 1.5  # how long the first transaction stays open once the second has started


def client_for(key):
    return lambda integration: SendGridClient(integration.api_url, key)


def store(db, *events: dict) -> list[int]:
    with db.begin() as session:
        return store_events(session, [Incoming(json.dumps(e).encode()) for e in events])


def process(db, ids: list[int]) -> set[int]:
    return process_events(db, ids, fresh=True)


def flush_all(db, sandbox, integration_id: int) -> None:
    flush_integration(db, integration_id, client_for(sandbox.key))
    sandbox.flush_jobs()
    poll_imports(db, client_for(sandbox.key), now=utcnow() + timedelta(minutes=1))


def status_counts(db) -> dict[str, int]:
    with db() as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    return {str(status): n for status, n in rows}


def order(order_id: str, revenue: str, minutes: int, **identity) -> dict:
    properties = {"order_id": order_id, "revenue": revenue}
    return event("track", minutes, event="Order Completed", properties=properties, **identity)


def page(url: str, minutes: int, **identity) -> dict:
    return event("page", minutes, properties={"url": url}, **identity)


def test_a_released_held_order_and_fresh_orders_of_the_same_contact_end_with_the_whole_sum(db, sandbox, integration):
    # An anonymous visitor's order waits for an identify (held: the oldest delivery id of the contact).
    process(db, store(db, order("o-1", "17.35", 1, anonymousId="anon-1")))
    assert status_counts(db) == {"held": 1}
    # One batch: the identify that links the visitor, and an order that names the email itself. The fresh
    # order is decided first (40.20), the released one after it (57.55) although its id is older.
    batch = store(
        db,
        identify(EMAIL, "user-1", 2, first_name="Ann") | {"anonymousId": "anon-1"},
        order("o-2", "40.20", 3, userId="user-1", context={"traits": {"email": EMAIL}}),
    )
    touched = process(db, batch)
    flush_all(db, sandbox, *touched)

    contact = sandbox.contact(EMAIL)
    assert contact is not None
    assert Decimal(str(contact["custom_fields"]["lifetime_value"])) == Decimal("57.55")
    assert status_counts(db) == {"succeeded": 3}


def test_newest_page_wins_when_the_released_event_is_newer_than_the_fresh_one(db, sandbox, integration):
    # The held page is newer by timestamp than the fresh page of the batch that releases it.
    process(db, store(db, page("https://shop.example/newest", 30, anonymousId="anon-2")))
    batch = store(
        db,
        identify(EMAIL, "user-2", 1) | {"anonymousId": "anon-2"},
        page("https://shop.example/older", 10, userId="user-2", context={"traits": {"email": EMAIL}}),
    )
    flush_all(db, sandbox, *process(db, batch))
    assert sandbox.contact(EMAIL)["custom_fields"]["last_page_url"] == "https://shop.example/newest"


def run_interleaved(first, second) -> None:
    """Run `first(started, proceed)` and `second()` in two threads: `first` opens its transaction, does its
    work and calls started.set(); `second` starts then; `first` commits after `second` finished or after WAIT
    seconds, whichever comes first (a second that waits for first's locks cannot finish before first commits)."""
    started, finished = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def guarded(target, *args):
        try:
            target(*args)
        except BaseException as e:  # re-raised in the test's thread
            errors.append(e)
            started.set()

    def run_second():
        started.wait(30)
        guarded(second)
        finished.set()

    one = threading.Thread(target=guarded, args=(first, started, finished))
    two = threading.Thread(target=run_second)
    one.start()
    two.start()
    one.join(60)
    two.join(60)
    assert not one.is_alive() and not two.is_alive(), "the interleaved transactions did not finish"
    if errors:
        raise errors[0]


def test_an_event_held_while_its_identify_commits_in_another_session_is_released(db, sandbox, integration):
    page_ids = store(db, page("https://shop.example/held", 5, anonymousId="anon-3"))
    identify_ids = store(db, identify(EMAIL, "user-3", 1) | {"anonymousId": "anon-3"})

    def hold_the_page(started, finished):
        with db.begin() as session:  # batch R: no link yet, so the page is held ...
            process_claimed(session, page_ids)  # as ingest's fresh trigger does
            started.set()
            finished.wait(WAIT)  # ... and not committed while batch Q links the visitor

    def link_the_visitor():
        process(db, identify_ids)  # batch Q

    run_interleaved(hold_the_page, link_the_visitor)
    assert status_counts(db).get("held", 0) == 0, f"the page stayed held: {status_counts(db)}"
    flush_all(db, sandbox, integration.id)
    assert sandbox.contact(EMAIL)["custom_fields"]["last_page_url"] == "https://shop.example/held"


def test_an_event_processed_while_its_identify_is_uncommitted_in_another_session_is_delivered(db, sandbox, integration):
    page_ids = store(db, page("https://shop.example/later", 5, userId="user-4"))
    identify_ids = store(db, identify(EMAIL, "user-4", 1))

    def link_the_visitor(started, finished):
        with db.begin() as session:  # batch Q: links user-4, finds nothing held yet ...
            process_claimed(session, identify_ids)
            started.set()
            finished.wait(WAIT)  # ... and is not committed while batch R processes the page

    def process_the_page():
        process(db, page_ids)  # batch R

    run_interleaved(link_the_visitor, process_the_page)
    assert status_counts(db).get("held", 0) == 0, f"the page stayed held: {status_counts(db)}"
    flush_all(db, sandbox, integration.id)
    assert sandbox.contact(EMAIL)["custom_fields"]["last_page_url"] == "https://shop.example/later"


def test_the_sweep_releases_a_held_delivery_whose_visitor_is_linked_as_a_backstop(db, sandbox, integration):
    """Should a release ever be missed (the locks above make that impossible for processing; a replay that
    holds a delivery again takes no lock), the sweep finds the held delivery with a link and releases it."""
    process(db, store(db, page("https://shop.example/missed", 5, anonymousId="anon-9")))
    with db.begin() as session:  # the link appears without the release that normally comes with it
        session.execute(
            update(Identity)
            .where(Identity.kind == "anonymous", Identity.value == "anon-9")
            .values(email=EMAIL, linked_at=utcnow())
        )
    with db.begin() as session:
        assert release_linked_held(session, older_than=timedelta(hours=1)) == (0, set())  # too recent: left alone
    with db.begin() as session:
        released, touched = release_linked_held(session, older_than=timedelta(0))
    assert (released, touched) == (1, {integration.id})
    assert status_counts(db) == {"queued": 1}
    flush_all(db, sandbox, integration.id)
    assert sandbox.contact(EMAIL)["custom_fields"]["last_page_url"] == "https://shop.example/missed"
