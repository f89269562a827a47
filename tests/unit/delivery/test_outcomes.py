"""workers/delivery/outcomes.py: what a SendGrid answer does to a request's deliveries and to the integration.

No session is needed where the code does not reach one: `rejected` takes none (refused custom fields go back to
the flush, which refreshes them), and send_chunk's `record_attempt` only adds and flushes (a stub session below).
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from models import DeliveryStatus, IntegrationStatus
from tests.unit.builders import NOW, answer, delivery, integration
from workers.delivery import outcomes
from workers.delivery.outcomes import (
    _CONTACT_INDEX,
    note_rate_limit,
    rejected,
    retry_later,
    send_chunk,
    wait_for_rate_limit,
)
from workers.delivery.report import FlushReport
from workers.delivery.request import Chunk, Outgoing
from workers.delivery.retry import RetryPolicy
from workers.sendgrid.client import RateLimit


def chunk_of(count: int, per_contact: int = 1, refreshed: bool = False) -> Chunk:
    contacts = []
    for i in range(count):
        carried = [delivery(i * per_contact + j, f"c{i}@example.com") for j in range(per_contact)]
        contacts.append(Outgoing(f"c{i}@example.com", {"first_name": f"C{i}"}, carried, b'{"email":"c%d"}' % i))
    return Chunk(["list-1"], contacts, fields_refreshed=refreshed)


def statuses(chunk: Chunk) -> list[DeliveryStatus]:
    return [d.status for out in chunk.contacts for d in out.deliveries]


def reject(chunk: Chunk, body: object, report: FlushReport | None = None):
    """`rejected` on paths that reach neither the session nor the client."""
    return rejected(integration(), chunk, answer(400, body), report or FlushReport())


# --- _CONTACT_INDEX -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("contacts[0].email", 0),
        ("contacts[12].custom_fields.e1_T", 12),
        ("contacts[29999]", 29999),
        ("error at contacts[3]: email 'x' is not valid", 3),
    ],
)
def test_contact_index_reads_the_index_sendgrid_names(text, index):
    found = _CONTACT_INDEX.search(text)
    assert found is not None and int(found.group(1)) == index


@pytest.mark.parametrize("text", ["contacts", "contacts[]", "contacts[-1]", "contacts[x]", "list_ids[0]", "contact[2]"])
def test_contact_index_ignores_what_names_no_contact(text):
    assert _CONTACT_INDEX.search(text) is None


# --- rejected: a 400 that names contacts ----------------------------------------------------------------------


def test_contacts_named_in_field_fail_and_the_rest_is_sent_again():
    chunk = chunk_of(4, per_contact=2)
    report = FlushReport()
    errors = [
        {"field": "contacts[1].email", "message": "email 'ip@[127.0.0.1]' is not valid"},
        {"field": "contacts[3].email", "message": "email 'typo@example.c0m' is not valid"},
    ]
    again = reject(chunk, {"errors": errors}, report)
    assert [[o.email for o in c.contacts] for c in again] == [["c0@example.com", "c2@example.com"]]
    assert again[0].list_ids == ["list-1"]
    assert report.failed == 4
    failed = [d for i in (1, 3) for d in chunk.contacts[i].deliveries]
    assert [d.reason for d in failed] == ["SendGrid rejected this contact: email 'ip@[127.0.0.1]' is not valid"] * 2 + [
        "SendGrid rejected this contact: email 'typo@example.c0m' is not valid"
    ] * 2
    assert {d.status for d in failed} == {DeliveryStatus.FAILED}
    assert {d.status for o in again[0].contacts for d in o.deliveries} == {DeliveryStatus.QUEUED}


def test_an_index_in_the_message_counts_when_the_field_is_empty():
    chunk = chunk_of(3)
    again = reject(chunk, {"errors": [{"field": None, "message": "contacts[2] has an invalid email"}]})
    assert statuses(chunk) == [DeliveryStatus.QUEUED, DeliveryStatus.QUEUED, DeliveryStatus.FAILED]
    assert [o.email for o in again[0].contacts] == ["c0@example.com", "c1@example.com"]


def test_a_contact_named_twice_fails_once_with_the_first_message():
    chunk = chunk_of(2)
    report = FlushReport()
    errors = [
        {"field": "contacts[0].email", "message": "first"},
        {"field": "contacts[0].first_name", "message": "second"},
    ]
    reject(chunk, {"errors": errors}, report)
    assert report.failed == 1
    assert chunk.contacts[0].deliveries[0].reason == "SendGrid rejected this contact: first"


def test_an_index_past_the_request_is_ignored_and_fails_the_request_when_nothing_else_is_named():
    chunk = chunk_of(3)
    report = FlushReport()
    assert reject(chunk, {"errors": [{"field": "contacts[3].email", "message": "bad"}]}, report) == []
    assert statuses(chunk) == [DeliveryStatus.FAILED] * 3
    assert report.failed == 3
    assert chunk.contacts[0].deliveries[0].reason == "SendGrid rejected the request: contacts[3].email: bad"


def test_every_contact_named_leaves_nothing_to_send():
    chunk = chunk_of(2)
    errors = [{"field": f"contacts[{i}].email", "message": "bad"} for i in range(2)]
    assert reject(chunk, {"errors": errors}) == []
    assert statuses(chunk) == [DeliveryStatus.FAILED] * 2


def test_the_rest_keeps_the_refreshed_flag():
    chunk = chunk_of(2, refreshed=True)
    again = reject(chunk, {"errors": [{"field": "contacts[0].email", "message": "bad"}]})
    assert again[0].fields_refreshed is True


@pytest.mark.parametrize(
    "body",
    [
        {"errors": [{"field": "email", "message": "something is wrong"}]},
        {"error": "Bad Request"},  # the other error shape
        {"errors": []},
        None,  # an empty body
        "<html>400</html>",  # not an object
    ],
)
def test_a_400_that_names_no_contact_fails_the_whole_request(body):
    chunk = chunk_of(3)
    report = FlushReport()
    assert reject(chunk, body, report) == []
    assert statuses(chunk) == [DeliveryStatus.FAILED] * 3
    assert report.failed == 3
    assert all(d.reason.startswith("SendGrid rejected the request: ") for o in chunk.contacts for d in o.deliveries)


def test_a_400_about_the_list_pauses_the_integration_and_holds_the_deliveries():
    chunk, target, report = chunk_of(2), integration(), FlushReport()
    errors = [{"field": "list_ids[0]", "message": "list does not exist"}]
    assert rejected(target, chunk, answer(400, {"errors": errors}), report) == []
    assert target.status == IntegrationStatus.PAUSED
    assert "list-1" in target.status_reason
    assert report.stopped == "paused"
    assert statuses(chunk) == [DeliveryStatus.QUEUED] * 2
    assert chunk.contacts[0].deliveries[0].reason == "waiting: integration paused (unknown list)"


def test_invalid_custom_fields_go_back_to_the_flush_for_a_refresh_with_nothing_failed():
    chunk, report = chunk_of(2), FlushReport()
    errors = [{"field": "contacts[0].custom_fields", "message": "Invalid custom field ids supplied"}]
    [again] = reject(chunk, {"errors": errors}, report)
    assert again.fields_refused and not again.fields_refreshed and again.contacts == chunk.contacts
    assert statuses(chunk) == [DeliveryStatus.QUEUED] * 2 and report.failed == 0


def test_invalid_custom_fields_after_a_refresh_fail_the_request():
    chunk, report = chunk_of(2, refreshed=True), FlushReport()
    errors = [{"field": "contacts[0].custom_fields", "message": "Invalid custom field ids supplied"}]
    assert reject(chunk, {"errors": errors}, report) == []
    assert statuses(chunk) == [DeliveryStatus.FAILED] * 2
    assert chunk.contacts[0].deliveries[0].reason.startswith("SendGrid still rejects the custom fields after a refresh")


# --- note_rate_limit: Remaining 0 pauses before the next request ----------------------------------------------


def test_remaining_zero_with_a_future_reset_pauses_until_the_reset():
    target = integration()
    reset_at = NOW + timedelta(seconds=30)
    note_rate_limit(target, answer(202, ratelimit=RateLimit(600, 0, 30, reset_at)), NOW)
    assert target.paused_until == reset_at


@pytest.mark.parametrize(
    "limit",
    [
        RateLimit(600, 1, 30, NOW + timedelta(seconds=30)),  # requests left
        RateLimit(600, 0, 0, NOW),  # reset already passed
        RateLimit(600, 0, None, None),  # no reset header
        RateLimit(None, None, None, None),  # no headers at all
    ],
)
def test_no_pause_unless_the_window_is_used_up_and_resets_later(limit):
    target = integration()
    note_rate_limit(target, answer(202, ratelimit=limit), NOW)
    assert target.paused_until is None


# --- wait_for_rate_limit --------------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(outcomes, "utcnow", lambda: NOW)
    monkeypatch.setattr(outcomes.time, "sleep", slept.append)
    return slept


def test_not_paused_or_pause_over_goes_ahead(clock):
    for paused_until in (None, NOW, NOW - timedelta(seconds=5)):
        target, report = integration(paused_until=paused_until), FlushReport()
        assert wait_for_rate_limit(target, report) is True
        assert (target.paused_until, report.stopped, clock) == (None, None, [])


def test_a_short_pause_is_waited_out(clock):
    target = integration(paused_until=NOW + timedelta(seconds=outcomes.SHORT_WAIT_SECONDS))
    assert wait_for_rate_limit(target, FlushReport()) is True
    assert clock == [outcomes.SHORT_WAIT_SECONDS]
    assert target.paused_until is None


def test_a_longer_pause_stops_the_flush(clock):
    until = NOW + timedelta(seconds=outcomes.SHORT_WAIT_SECONDS + 0.001)
    target, report = integration(paused_until=until), FlushReport()
    assert wait_for_rate_limit(target, report) is False
    assert clock == []
    assert target.paused_until == until
    assert report.stopped == f"rate limited until {until.isoformat()}"


# --- retry_later ----------------------------------------------------------------------------------------------


class FixedDelay(RetryPolicy):
    def delay(self, attempts: int) -> float:
        return 10.0 * (attempts + 1)


def test_retry_later_pauses_the_integration_once_for_everything_it_carried():
    target, report = integration(), FlushReport()
    carried = [delivery(1, attempts=1), delivery(2, attempts=3)]
    retry_later(target, carried, answer(503, {"errors": [{"message": "down"}]}), FixedDelay(), NOW, report)
    retry_at = NOW + timedelta(seconds=40)  # from the most attempts of the request
    assert target.paused_until == retry_at
    assert [d.next_attempt_at for d in carried] == [retry_at, retry_at]
    assert [d.status for d in carried] == [DeliveryStatus.QUEUED] * 2
    assert carried[0].reason == "retrying after: down"
    assert report.retrying == 2


def test_retry_later_gives_up_on_deliveries_older_than_the_window():
    policy = FixedDelay(window=timedelta(hours=24))
    old = delivery(1, attempts=9, created_at=NOW - timedelta(hours=24, seconds=1))
    edge = delivery(2, attempts=9, created_at=NOW - timedelta(hours=24))
    report = FlushReport()
    retry_later(
        integration(), [old, edge], answer(None, transport_error="ReadTimeout: read timed out"), policy, NOW, report
    )
    assert (old.status, old.next_attempt_at) == (DeliveryStatus.FAILED, None)
    assert old.reason == "gave up after 9 attempts: ReadTimeout: read timed out"
    assert edge.status == DeliveryStatus.QUEUED
    assert (report.failed, report.retrying) == (1, 1)


# --- send_chunk: one request, every kind of answer ------------------------------------------------------------


class StubSession:
    """What record_attempt needs: add and flush (the attempt's id stays None)."""

    def __init__(self) -> None:
        self.added: list = []

    def add(self, obj: object) -> None:
        self.added.append(obj)

    def flush(self) -> None:
        pass


class StubClient:
    def __init__(self, reply) -> None:
        self.reply = reply
        self.bodies: list[bytes] = []

    def upsert_contacts(self, body: bytes):
        self.bodies.append(body)
        return self.reply


@pytest.fixture
def send(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(outcomes, "utcnow", lambda: NOW)
    monkeypatch.setattr(outcomes, "random", random.Random(14))

    def run(reply, chunk: Chunk | None = None, target=None, policy: RetryPolicy | None = None):
        chunk = chunk or chunk_of(4)
        target = target or integration()
        session, client, report = StubSession(), StubClient(reply), FlushReport()
        again = send_chunk(session, target, client, chunk, policy or FixedDelay(), report)
        assert report.requests == 1 and len(client.bodies) == 1
        (attempt,) = session.added
        assert (attempt.status_code, attempt.contacts_count) == (reply.status, len(chunk.contacts))
        return again, chunk, target, report

    return run


def test_every_carried_delivery_counts_the_attempt(send):
    _again, chunk, _target, _report = send(answer(500))
    assert {(d.attempts, d.status_code) for o in chunk.contacts for d in o.deliveries} == {(1, 500)}


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key_stops_the_flush_and_holds_the_deliveries(send, status):
    again, chunk, target, report = send(answer(status, {"errors": [{"message": "authorization required"}]}))
    assert again == []
    assert target.status == IntegrationStatus.AUTH_FAILED
    assert report.stopped == "auth_failed"
    assert statuses(chunk) == [DeliveryStatus.QUEUED] * 4
    assert chunk.contacts[0].deliveries[0].reason.startswith(f"waiting: API key rejected ({status})")


def test_413_halves_the_request(send):
    again, chunk, _target, report = send(answer(413))
    assert [[o.email for o in c.contacts] for c in again] == [
        ["c0@example.com", "c1@example.com"],
        ["c2@example.com", "c3@example.com"],
    ]
    assert (report.failed, report.stopped) == (0, None)


def test_413_for_one_contact_fails_it(send):
    again, chunk, _target, report = send(answer(413), chunk=chunk_of(1))
    assert again == []
    assert statuses(chunk) == [DeliveryStatus.FAILED]
    assert chunk.contacts[0].deliveries[0].reason == "SendGrid answered 413: HTTP 413"


def test_429_pauses_until_the_reset_plus_at_most_a_second(send):
    reset_at = NOW + timedelta(seconds=20)
    again, chunk, target, report = send(answer(429, ratelimit=RateLimit(600, 0, 20, reset_at)))
    assert again == []
    assert reset_at <= target.paused_until <= reset_at + timedelta(seconds=1)
    assert report.stopped == "rate_limited"
    assert statuses(chunk) == [DeliveryStatus.QUEUED] * 4


def test_429_without_a_reset_header_pauses_one_to_two_seconds(send):
    _again, _chunk, target, _report = send(answer(429))
    assert NOW + timedelta(seconds=1) <= target.paused_until <= NOW + timedelta(seconds=2)


@pytest.mark.parametrize("status", [None, 408, 500, 502, 503])
def test_an_outage_retries_the_whole_integration_later(send, status):
    again, chunk, target, report = send(answer(status))
    assert again == []
    assert target.paused_until == NOW + timedelta(seconds=20)  # FixedDelay(1): this attempt counts already
    assert report.stopped == "sendgrid_unavailable"
    assert report.retrying == 4


def test_404_about_the_list_pauses_the_integration(send):
    _again, _chunk, target, report = send(answer(404, {"errors": [{"message": "List not found"}]}))
    assert (target.status, report.stopped) == (IntegrationStatus.PAUSED, "paused")


@pytest.mark.parametrize(("status", "body"), [(404, {"errors": [{"message": "not found"}]}), (422, None)])
def test_any_other_answer_fails_the_request(send, status, body):
    again, chunk, target, report = send(answer(status, body))
    assert again == []
    assert statuses(chunk) == [DeliveryStatus.FAILED] * 4
    assert target.status == IntegrationStatus.ACTIVE
    assert report.stopped is None


def test_a_400_goes_to_rejected(send):
    again, chunk, _target, _report = send(answer(400, {"errors": [{"field": "contacts[0].email", "message": "no"}]}))
    assert statuses(chunk)[0] == DeliveryStatus.FAILED
    assert [o.email for o in again[0].contacts] == ["c1@example.com", "c2@example.com", "c3@example.com"]


def test_a_paused_integration_sends_nothing(monkeypatch):
    monkeypatch.setattr(outcomes, "utcnow", lambda: NOW)
    target, client, report = (
        integration(paused_until=NOW + timedelta(minutes=5)),
        StubClient(answer(202)),
        FlushReport(),
    )
    assert send_chunk(StubSession(), target, client, chunk_of(2), FixedDelay(), report) == []
    assert client.bodies == [] and report.requests == 0
