"""The Overview's figures on PostgreSQL: buckets by outcome, the backlog, the failure rate, the p95 latency from
receipt to SendGrid's answer and the oldest waiting item, read by the page and drawn as SVG."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from models import AttemptKind, Delivery, DeliveryAttempt, DeliveryStatus, Event, EventStatus
from tests.factories import IntegrationFactory
from tests.helpers.console import console_app, signed_in_client
from workers.services import overview as reads

S = DeliveryStatus


def seed(db) -> datetime:
    """Deliveries of the last hour and day before now (returned); the upserts answered 1 s ... 10 s after each
    event was received."""
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [  # (minutes ago, status)
        *[(5, S.SUCCEEDED)] * 6,
        *[(5, S.FAILED)] * 2,
        (20, S.IMPORT_ERRORED),
        (30, S.SENT),
        (40, S.SKIPPED),
        *[(3, S.QUEUED)] * 3,
        (50, S.HELD),
        (600, S.SUCCEEDED),  # in the last day, not the last hour
        (600, S.FAILED),
        (3000, S.FAILED),  # older than a day: in neither
    ]
    with db.begin() as session:
        integration = IntegrationFactory()
        session.add(integration)
        session.flush()
        for n, (minutes, status) in enumerate(rows):
            created = now - timedelta(minutes=minutes)
            event = Event(message_id=f"m{n}", type="identify", received_at=created, status=EventStatus.PROCESSED)
            session.add(event)
            session.flush()
            delivery = Delivery(integration_id=integration.id, event_id=event.id, status=status, created_at=created)
            if status in (S.SUCCEEDED, S.FAILED, S.IMPORT_ERRORED, S.SENT) and minutes < 60:
                attempt = DeliveryAttempt(
                    integration_id=integration.id,
                    kind=AttemptKind.UPSERT,
                    method="PUT",
                    path="/v3/marketing/contacts",
                    status_code=202,
                    created_at=created + timedelta(seconds=n + 1),
                )
                session.add(attempt)
                session.flush()
                delivery.attempt_id = attempt.id
            session.add(delivery)
        session.add(Event(message_id="waiting", type="page", received_at=now - timedelta(minutes=90)))
        session.add(
            Event(
                message_id="bad", status=EventStatus.REJECTED, received_at=now, processed_at=now - timedelta(minutes=2)
            )
        )
    return now


def test_the_figures(db):
    now = seed(db)
    with db() as session:
        hour = reads.window(session, now, timedelta(hours=1), 60)
        day = reads.window(session, now, timedelta(days=1), 900)
        backlog = reads.backlog(session)
        p95, sample = reads.p95_latency_ms(session, now - timedelta(hours=1))
    five_ago = int((now - timedelta(minutes=5)).timestamp()) // 60 * 60
    assert hour.counts[five_ago] == {"succeeded": 6, "failed": 2}
    assert hour.total(("rejected",)) == 1
    assert hour.total(reads.OUTCOMES) == 16
    assert day.total(reads.OUTCOMES) == 18
    assert hour.failure_rate == pytest.approx(3 / 10)  # 2 failed + 1 import_errored of 10 settled
    assert day.failure_rate == pytest.approx(4 / 12)
    assert (backlog.waiting_events, backlog.queued, backlog.held, backlog.sent) == (1, 3, 1, 1)
    assert backlog.oldest == ("event waiting to be processed", now - timedelta(minutes=90))
    # Answers 1..10 s after receipt (n + 1 for the rows 0..9 that were sent): the 95th percentile is 9.55 s.
    assert sample == 10
    assert p95 == pytest.approx(9550, abs=1)


def test_the_page(db, pg_url):
    now = seed(db)
    client = signed_in_client(console_app(db, pg_url))
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(r'id="backlog">.*?1 · 3 · 1<', html, re.S)
    assert "30.0 %" in html and "33.3 %" in html
    assert "9550 ms" in html
    assert "event waiting to be processed" in html and "90 min" in html
    titles = re.findall(r"<title>([^<]+)</title>", html)
    minute = (now - timedelta(minutes=5)).strftime("%H:%M")
    assert f"{minute} UTC: 6/min succeeded" in titles and f"{minute} UTC: 2/min failed" in titles
    assert html.count("<svg") == 2 and "<script" not in html


def test_the_day_never_lags_behind_the_hour(db, pg_url):
    """The day's chart keeps its older buckets for a minute; deliveries of the last hour count at once (the page
    showed "16 in all" for the hour and "0 in all" for the day when an empty page had been read just before)."""
    client = signed_in_client(console_app(db, pg_url))
    assert "(15-minute averages; 0 in all)" in client.get("/").get_data(as_text=True)  # empty: cached as such
    seed(db)
    html = client.get("/").get_data(as_text=True)
    assert "(16 in all)" in html
    assert "(15-minute averages; 16 in all)" in html  # the last hour's; the older two wait for the cache minute


def test_the_buckets_read_one_range_of_an_index(db):
    """At a million deliveries the windows must not scan the table: the plan names an index on created_at."""
    with db() as session:
        session.execute(text("SET enable_seqscan = off"))  # the empty test table would favour a scan otherwise
        query = reads.bucket_query(datetime.now(UTC) - timedelta(days=1), 900).compile(
            session.bind, compile_kwargs={"literal_binds": True}
        )
        plan = "\n".join(row[0] for row in session.execute(text(f"EXPLAIN {query}")))
    assert "ix_deliveries_created" in plan and "Seq Scan" not in plan, plan
