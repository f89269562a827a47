"""Live Events and Replay in the console, through Flask's test client on the real PostgreSQL: filters and search,
keyset pagination while rows arrive, rejected events with their reasons, an event's detail (the key redacted),
the import job's outcome, and replay's dry run, confirmation and per-row button."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urlencode

import pytest
from sqlalchemy import select, update

from models import Delivery, DeliveryStatus, Event, ImportJob, ImportJobStatus, Integration, IntegrationStatus
from tests.factories import event, identify
from tests.helpers.console import console_app, signed_in_client
from tests.helpers.delivery import flush, process, settle_imports
from workers.ingest.inbox import Incoming, store_events
from workers.integrations.install import InstallRequest, install
from workers.integrations.status import client_for as stored_key_client
from workers.services.timeline import Cursor, TimelineFilter, timeline

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
MESSAGE_ID = re.compile(r'<td class="mono message-id">([^<]+)</td>')


@pytest.fixture
def console(db, pg_url, sandbox, settings):
    """The admin app's test client, signed in (the session /login leaves), on this run's database."""
    app = console_app(db, pg_url, SENDGRID_API_URL=sandbox.url)
    yield signed_in_client(app)
    app.extensions["signal_sendgrid"].publisher.close()


@pytest.fixture
def client_for(settings):
    return lambda integration: stored_key_client(integration, settings)


def page(console, path: str, status: int = 200) -> str:
    answer = console.get(path)
    assert answer.status_code == status, answer.text[:2000]
    return answer.text


def message_ids(html: str) -> list[str]:
    return [unescape(m) for m in MESSAGE_ID.findall(html)]


def csrf(console, path: str = "/live-events") -> str:
    return CSRF.search(page(console, path)).group(1)


def install_second(db, sandbox, settings) -> int:
    with db.begin() as session:
        request = InstallRequest(api_key=sandbox.key, default_list_id=sandbox.list_id, name="Newsletter", force=True)
        return install(session, request, settings).integration.id


@pytest.fixture
def stream(db, integration, sandbox, settings, client_for) -> dict:
    """Two integrations; identify ann@ and bob@, a page of ann's, an Order Completed of bob's, one rejected
    identify; flushed to the sandbox (202) and its import jobs settled."""
    second = install_second(db, sandbox, settings)
    events = [
        {**identify("ann@example.com", "u-ann", 0, first_name="Ann"), "messageId": "m-ann"},
        {**identify("bob@example.org", "u-bob", 1), "messageId": "m-bob"},
        event("page", 2, userId="u-ann", messageId="m-page", name="Pricing", properties={"url": "https://x.test/p"}),
        event("track", 3, userId="u-bob", messageId="m-order", event="Order Completed",
              properties={"order_id": "o1", "revenue": "12.50"}),
        {**identify("foo", "u-bad", 4), "messageId": "m-bad"},
    ]  # fmt: skip
    process(db, events)
    for integration_id in (integration.id, second):
        flush(db, integration_id, client_for)
    settle_imports(db, sandbox, client_for)
    return {"first": integration.id, "second": second}


def test_live_events_lists_every_delivery_newest_first_with_202_and_rejected_events(console, stream):
    html = page(console, "/live-events")
    # Newest first; each of the 4 accepted events has a delivery per integration; the rejected one has none (one
    # batch decided them all at one time: deliveries come first, then events, each by id, newest first).
    assert message_ids(html) == ["m-order", "m-order", "m-page", "m-page", "m-bob", "m-bob", "m-ann", "m-ann", "m-bad"]
    assert html.count('<span class="badge status-succeeded">succeeded</span>') == 8
    assert html.count('<td class="num mono">202</td>') == 8
    assert "track · Order Completed" in html and "page · Pricing" in html
    rejected = page(console, "/live-events?status=rejected")
    assert message_ids(rejected) == ["m-bad"]
    assert "traits.email: &#39;foo&#39; is not a valid email" in rejected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=identify", ["m-bob", "m-bob", "m-ann", "m-ann", "m-bad"]),
        ("type=Order+Completed", ["m-order", "m-order"]),
        ("status=succeeded&type=page", ["m-page", "m-page"]),
        ("q=ann@example.com", ["m-page", "m-page", "m-ann", "m-ann"]),  # exact email: ann's page too
        ("q=BOB@", ["m-order", "m-order", "m-bob", "m-bob"]),  # a prefix, lower-cased
        ("q=m-page", ["m-page", "m-page"]),  # a message id, exactly
        ("q=m-pag", []),  # not a prefix of message ids, and no such email
        ("q=m-bad", ["m-bad"]),  # a rejected event by its message id
        ("status=failed", []),
        ("from=2999-01-01T00:00", []),
        ("to=2000-01-01T00:00:00Z", []),
    ],
)
def test_filters_and_search(console, stream, query, expected):
    assert message_ids(page(console, f"/live-events?{query}")) == expected


def test_the_integration_filter_and_a_time_window(console, db, stream):
    second = page(console, f"/live-events?integration={stream['second']}")
    assert message_ids(second) == ["m-order", "m-page", "m-bob", "m-ann"]  # no rejected event: no integration
    with db() as session:
        decided = session.scalar(select(Delivery.created_at).order_by(Delivery.id))
    window = f"from={decided.isoformat()}&to={decided.replace(year=decided.year + 1).isoformat()}"
    assert len(message_ids(page(console, "/live-events?" + window.replace("+", "%2B")))) == 9


def test_a_filter_that_cannot_be_used_is_a_clear_400(console, stream):
    assert "status must be one of queued, sent" in page(console, "/live-events?status=lost", status=400)
    assert "integration must be an integration&#39;s id" in page(console, "/live-events?integration=x", 400)
    assert "from must be a time" in page(console, "/live-events?from=yesterday", status=400)
    assert "not one this page gave out" in page(console, "/live-events?cursor=nonsense", status=400)


def add_stream(db, count: int, tag: str) -> None:
    events = [
        {**identify(f"{tag}{n}@example.com", f"{tag}-{n}", n), "messageId": f"{tag}-{n:03d}"} for n in range(count)
    ]
    events.insert(count // 2, {**identify("bad", "u-x", 0), "messageId": f"{tag}-rejected"})  # at the batch's time
    process(db, events)


def test_keyset_pages_have_no_duplicate_and_no_gap_while_new_rows_arrive(console, db, integration):
    add_stream(db, 40, "old")  # one batch: every row has the same time, the id breaks the tie
    add_stream(db, 40, "mid")
    with db() as session:
        expected = [r.message_id for r in timeline(session, TimelineFilter(), limit=1000).rows]
    assert len(expected) == 82 and len(set(expected)) == 82

    seen, cursor, pages = [], None, 0
    while True:
        with db() as session:
            result = timeline(session, TimelineFilter(), cursor, limit=7)
        seen += [r.message_id for r in result.rows]
        pages += 1
        if pages == 2:
            add_stream(db, 30, "new")  # newer than every cursor: it never shows on later pages
        if result.next is None:
            break
        cursor = result.next
    assert seen == expected and pages == 12

    # The same walk through the pages' own "next page" links.
    html, walked = page(console, "/live-events?q=mid"), []
    while True:
        walked += message_ids(html)
        link = re.search(r'id="next-page" rel="next"\s+href="([^"]+)"', html)
        if not link:
            break
        add_stream(db, 3, f"n{uuid.uuid4().hex[:6]}")
        html = page(console, unescape(link.group(1)))
    assert walked == [m for m in expected if m.startswith("mid-") and m != "mid-rejected"] and len(walked) == 40


def test_the_cursor_round_trips_even_with_its_plus_unescaped():
    cursor = Cursor(datetime(2026, 12, 1, 9, 30, 15, 250_000, tzinfo=UTC), 0, 7)
    assert Cursor.decode(cursor.encode()) == cursor
    assert Cursor.decode(cursor.encode().replace("+", " ")) == cursor  # a `+` unescaped in a query string


def test_the_rows_alone_for_the_refresh(console, stream):
    rows = page(console, "/live-events/rows?status=succeeded")
    assert rows.lstrip().startswith("{#") is False and "<tr" in rows and "<html" not in rows
    assert len(message_ids(rows)) == 8
    full = page(console, "/live-events")
    assert 'data-rows-url="/live-events/rows"' in full and "live_events.js" in full


def test_the_detail_shows_the_event_the_decision_the_requests_and_the_import_job(console, db, stream, sandbox):
    with db() as session:
        event_id = session.scalar(select(Event.id).where(Event.message_id == "m-ann"))
    html = page(console, f"/live-events/{event_id}")
    assert "m-ann" in html and "&#34;first_name&#34;: &#34;Ann&#34;" in html  # the raw event and the patch
    assert html.count('<section class="delivery"') == 2  # one decision per integration
    assert f"PUT {sandbox.url}/v3/marketing/contacts" in html
    assert "Authorization: Bearer SG.…" in html and "(redacted)" in html
    assert sandbox.key not in html and sandbox.key.split(".")[-1] not in html
    assert '"status": 202' in html and '"job_id":' in html
    assert "import_poll" in html  # the polls of the job that carried it
    assert 'class="badge status-succeeded">succeeded</span>' in html


def test_the_detail_of_an_import_that_errored_shows_its_counts_and_errors_url(console, db, stream):
    with db.begin() as session:
        delivery = session.scalars(select(Delivery).order_by(Delivery.id)).first()
        job = session.scalar(select(ImportJob).where(ImportJob.job_id == delivery.job_id))
        job.status, job.results = ImportJobStatus.ERRORED, {
            "requested_count": 2, "errored_count": 1, "errors_url": "https://sendgrid.test/errors/1.csv"}  # fmt: skip
        delivery.status = DeliveryStatus.IMPORT_ERRORED
        event_id = delivery.event_id
    html = page(console, f"/live-events/{event_id}")
    assert ">import_errored</span>" in html and "<dt>errored</dt><dd>1</dd>" in html
    assert 'href="https://sendgrid.test/errors/1.csv"' in html


def test_a_rejected_event_shows_its_reason_and_no_decision(console, db, stream):
    with db() as session:
        event_id = session.scalar(select(Event.id).where(Event.message_id == "m-bad"))
    html = page(console, f"/live-events/{event_id}")
    assert 'id="event-status">rejected' in html and "is not a valid email" in html
    assert "No delivery: " in html
    assert page(console, "/live-events/999999", status=404)


def test_a_body_that_is_not_json_is_a_rejected_row_with_its_raw_body(console, db, stream):
    with db.begin() as session:
        store_events(session, [Incoming(b'{"type": "identify", "traits": {"email": "SG.x')])
    html = page(console, "/live-events?status=rejected")
    assert len(message_ids(html)) == 2 and "body is not JSON" in html
    event_id = re.search(r'href="/live-events/(\d+)"', html).group(1)
    detail = page(console, f"/live-events/{event_id}")
    assert "body is not JSON" in detail and "&#34;traits&#34;: {&#34;email&#34;" in detail


def fail_identifies(db, integration_id: int) -> None:
    with db.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.integration_id == integration_id, Delivery.kind == "identify")
            .values(status=DeliveryStatus.FAILED, reason="SendGrid answered 400: invalid")
        )


@pytest.fixture
def flush_triggers(monkeypatch) -> list[int]:
    from workers import tasks

    triggered: list[int] = []
    monkeypatch.setattr(tasks.flush_integration_task, "delay", triggered.append)
    return triggered


def test_replay_dry_run_then_confirm(console, db, stream, flush_triggers):
    fail_identifies(db, stream["first"])
    fail_identifies(db, stream["second"])
    dry = page(console, f"/replay?status=failed&integration={stream['first']}")
    assert '<b id="matched-count">2</b>' in dry and 'id="confirm-replay"' in dry
    assert '<b id="matched-count">2</b>' in page(console, "/replay?q=ann@")  # ann's identify, to both
    assert '<b id="matched-count">1</b>' in page(console, f"/replay?q=ANN@&integration={stream['second']}")
    assert '<b id="matched-count">0</b>' in page(console, "/replay?q=m-page")  # by message id: not failed

    form = {"status": "failed", "integration": str(stream["first"]), "csrf_token": csrf(console, "/replay")}
    assert console.post("/replay", data={k: v for k, v in form.items() if k != "csrf_token"}).status_code == 400
    done = console.post("/replay", data=form)
    assert done.status_code == 200
    assert "Matched 2 deliveries, re-queued 2." in done.text
    assert '<b id="matched-count">0</b>' in done.text
    assert flush_triggers == [stream["first"]]
    with db() as session:
        statuses = session.execute(select(Delivery.integration_id, Delivery.status).where(Delivery.kind == "identify"))
        by = {(i, s.value) for i, s in statuses}
    assert by == {(stream["first"], "queued"), (stream["second"], "failed")}


def test_the_replay_page_filters_on_the_last_change_like_the_api_and_the_cli(console, db, stream, flush_triggers):
    """From/To are when a delivery last changed, as in POST /v1/admin/deliveries/replay and `signal-sendgrid replay`:
    a delivery made before the window that failed inside it is replayed (the page filtered on creation time)."""
    fail_identifies(db, stream["first"])
    fail_identifies(db, stream["second"])
    now = datetime.now(UTC)
    with db.begin() as session:
        session.execute(update(Delivery).values(created_at=now - timedelta(days=2)))  # all made before the window
        failed_now = Delivery.integration_id == stream["first"]
        session.execute(update(Delivery).where(failed_now).values(updated_at=now - timedelta(minutes=10)))
        session.execute(update(Delivery).where(~failed_now).values(updated_at=now - timedelta(hours=3)))
    window = {"status": "failed", "from": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")}
    assert '<b id="matched-count">2</b>' in page(console, "/replay?" + urlencode(window))
    done = console.post("/replay", data={**window, "csrf_token": csrf(console, "/replay")})
    assert "Matched 2 deliveries, re-queued 2." in done.text
    assert flush_triggers == [stream["first"]]
    with db() as session:
        statuses = session.execute(select(Delivery.integration_id, Delivery.status).where(Delivery.kind == "identify"))
        assert {(i, s.value) for i, s in statuses} == {(stream["first"], "queued"), (stream["second"], "failed")}


def test_replay_says_why_a_matched_delivery_was_not_requeued(console, db, stream, flush_triggers):
    fail_identifies(db, stream["second"])
    with db.begin() as session:
        disabled = update(Integration).where(Integration.id == stream["second"])
        session.execute(disabled.values(status=IntegrationStatus.DISABLED))
    form = {"status": "failed", "csrf_token": csrf(console, "/replay")}
    done = console.post("/replay", data=form).text
    assert "Matched 2 deliveries, re-queued 0." in done
    assert "2 × integration disabled, deleted or with an invalid mapping config" in done
    assert "only failed, import_errored, skipped deliveries can be replayed" in page(
        console, "/replay?status=sent", 400
    )


def test_the_replay_button_of_one_failed_row(console, db, stream, flush_triggers):
    fail_identifies(db, stream["first"])
    html = page(console, "/live-events?status=failed")
    buttons = re.findall(r'action="/replay/delivery/(\d+)"', html)
    assert len(buttons) == 2
    answer = console.post(f"/replay/delivery/{buttons[0]}", data={"csrf_token": CSRF.search(html).group(1),
                                                                  "next": "/live-events?status=failed"})  # fmt: skip
    assert answer.status_code == 303 and answer.headers["Location"] == "/live-events?status=failed"
    after = page(console, "/live-events?status=failed")
    assert "re-queued; the next flush sends the contact" in after
    assert len(re.findall(r'action="/replay/delivery/(\d+)"', after)) == 1
    with db() as session:
        assert session.get(Delivery, int(buttons[0])).status == DeliveryStatus.QUEUED
    assert flush_triggers == [stream["first"]]
    refused = console.post(f"/replay/delivery/{buttons[0]}", data={"csrf_token": CSRF.search(after).group(1)})
    assert refused.status_code == 303
    assert "is queued: only failed, import_errored, skipped ones are replayed" in page(console, "/live-events")
