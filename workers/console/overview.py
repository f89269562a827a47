"""Overview (`/`): the pipeline at a glance. Deliveries per minute by outcome over the last hour (one-minute
bars) and the last day (15-minute bars), the backlog, the failure rate, the p95 latency from receipt to SendGrid's
answer, and the oldest waiting item. The page refreshes itself every 30 s (a meta refresh: no script); the
day's chart is at most a minute old."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from flask import current_app, render_template

from workers.console.blueprint import console
from workers.console.chart import COLORS, stacked_bars
from workers.services import overview as reads
from workers.web_state import transaction

HOUR = (timedelta(hours=1), 60)  # span, bucket seconds
DAY = (timedelta(days=1), 15 * 60)
DAY_CACHE_SECONDS = 60  # the day's chart reads ~all of a day's index entries: once a minute is enough


def day_window(session, now: datetime) -> reads.Window:
    """The last day's window: its buckets before the last hour (the bulk of the reading) computed at most once a
    minute by this app, the buckets since then read each time, so that the day never lags behind the hour."""
    span, bucket_seconds = DAY
    recent_from = datetime.fromtimestamp(
        (int((now - HOUR[0]).timestamp()) // bucket_seconds) * bucket_seconds, UTC
    )  # the start of the bucket the last hour begins in
    cache = current_app.extensions.setdefault("console_day_window", {})
    if not cache or cache["until"] != recent_from or time.monotonic() - cache["at"] >= DAY_CACHE_SECONDS:
        older = reads.window(session, now, span, bucket_seconds, until=recent_from)
        cache.update(at=time.monotonic(), until=recent_from, window=older)
    older = cache["window"]
    recent = reads.window(session, now, now - recent_from, bucket_seconds)
    return reads.Window(now - span, bucket_seconds, {**older.counts, **recent.counts})


def chart_for(window: reads.Window, span: timedelta, now: datetime):
    buckets = int(span.total_seconds()) // window.bucket_seconds
    start = now - timedelta(seconds=(buckets - 1) * window.bucket_seconds)
    return stacked_bars(window.counts, start, buckets, window.bucket_seconds, reads.OUTCOMES)


@console.get("/")
def overview():
    now = datetime.now(UTC)
    with transaction() as session:
        hour = reads.window(session, now, *HOUR)
        day = day_window(session, now)
        backlog = reads.backlog(session)
        p95, sample = reads.p95_latency_ms(session, now - HOUR[0])
    return render_template(
        "console/overview.html",
        now=now,
        hour=hour,
        day=day,
        hour_chart=chart_for(hour, HOUR[0], now),
        day_chart=chart_for(day, DAY[0], now),
        backlog=backlog,
        cap=reads.BACKLOG_CAP,
        p95=p95,
        sample=sample,
        colors=COLORS,
        outcomes=reads.OUTCOMES,
    )
