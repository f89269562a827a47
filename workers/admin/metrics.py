"""`/metrics` in Prometheus text format, computed from the database (and the broker) when scraped.

The workers run in other processes, so in-process counters would only see this API's own work: a custom
Collector reads the records instead (workers.services.metrics: counts by status, the backlog through the
partial indexes, the last hour's accepted deliveries for the latency histogram), cached for CACHE_SECONDS so
that several scrapers cost one round. Open unless SIGNAL_METRICS_TOKEN is set; then it needs that token or the
admin token as a bearer. The metrics and the alert rules built on them: docs/operations.md, deploy/alerts.yml.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Iterator

from flask import Flask, Response, current_app, request
from flask_smorest import abort
from kombu import Connection
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.orm import Session, sessionmaker

from workers.ingest.wire import DEAD_QUEUE_NAME
from workers.services.metrics import CONSENT_REASONS
from workers.services.metrics import read as records_of

log = logging.getLogger(__name__)

PREFIX = "signal_sendgrid_"
CACHE_SECONDS = 5.0
# Seconds from an event's arrival to SendGrid accepting the request that carried it.
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)


class RecordsCollector:
    """The metrics, read from the records at scrape time."""

    def __init__(self, sessions: sessionmaker[Session], broker_url: str) -> None:
        self.sessions = sessions
        self.broker_url = broker_url
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > CACHE_SECONDS:
                self._cached = (time.monotonic(), [*self._from_database(), *self._from_broker()])
            yield from self._cached[1]

    def _from_database(self) -> Iterator[Metric]:
        with self.sessions() as session, session.begin():
            records = records_of(session)
        events, deliveries, requests, backlog = records.events, records.deliveries, records.requests, records.backlog

        yield CounterMetricFamily(
            PREFIX + "events_received", "Events stored from the queue or POST /v1/events", sum(events.values())
        )
        yield CounterMetricFamily(
            PREFIX + "events_rejected",
            "Events refused as bad input (reasons: `events --status rejected`)",
            events.get("rejected", 0),
        )
        yield CounterMetricFamily(
            PREFIX + "events_failed", "Events set aside after crashing processing too often", events.get("failed", 0)
        )
        yield CounterMetricFamily(
            PREFIX + "events_conflicting",
            "Stored messageIds re-sent with a different event, kept aside (`events --status conflicting`)",
            events.get("conflicting", 0),
        )

        by_status = GaugeMetricFamily(
            PREFIX + "deliveries", "Deliveries now in each status (a replay moves failed ones back)", labels=["status"]
        )
        consent = GaugeMetricFamily(
            PREFIX + "consent_filtered_deliveries",
            "Deliveries skipped for consent or the integrations switch, by reason",
            labels=["reason"],
        )
        totals = {status: count for status, count, *_ in deliveries}
        skipped = next((by_reason for status, _, *by_reason in deliveries if status == "skipped"), [0, 0, 0])
        filtered = dict(zip(CONSENT_REASONS, skipped, strict=True))
        for status in ("held", "queued", "sent", "succeeded", "import_errored", "failed", "skipped"):
            by_status.add_metric([status], totals.get(status, 0))
        for reason, count in filtered.items():
            consent.add_metric([reason], count)
        yield by_status
        yield consent

        sendgrid = CounterMetricFamily(
            PREFIX + "sendgrid_requests",
            "HTTP requests to SendGrid by kind and status code (none: no answer)",
            labels=["kind", "code"],
        )
        for kind, code, count in requests:
            sendgrid.add_metric([kind, code], count)
        yield sendgrid

        size = GaugeMetricFamily(
            PREFIX + "backlog", "Work waiting: events not yet processed, deliveries queued or held", labels=["stage"]
        )
        age = GaugeMetricFamily(
            PREFIX + "backlog_oldest_age_seconds", "Age of the oldest waiting item (0: none)", labels=["stage"]
        )
        for stage, count, oldest in backlog:
            size.add_metric([stage], count)
            age.add_metric([stage], float(oldest or 0))
        yield size
        yield age

        yield _latency_histogram(records.latencies)

    def _from_broker(self) -> Iterator[Metric]:
        """The dead-letter queue's depth by a passive declare (nothing is created); broker_up 0 when unreachable.
        The embedded in-memory broker has no dead-letter queue: nothing is reported."""
        if self.broker_url.startswith("memory"):
            return
        up = GaugeMetricFamily(PREFIX + "broker_up", "1 when RabbitMQ answered this scrape")
        try:
            with Connection(self.broker_url, connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
                _, depth, _ = conn.default_channel.queue_declare(DEAD_QUEUE_NAME, passive=True)
        except Exception as e:  # kombu raises transport-specific errors; a missing queue raises NOT_FOUND
            log.debug("metrics: dead-letter queue not read (%s)", type(e).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            PREFIX + "dead_letter_messages", f"Messages in {DEAD_QUEUE_NAME} (poison for the consumer)", depth
        )


def _latency_histogram(latencies: list[float]) -> Metric:
    """A histogram of the last hour (a gauge histogram: buckets can fall); use histogram_quantile without rate()."""
    buckets, below = [], 0
    for bound in LATENCY_BUCKETS:
        below = sum(1 for seconds in latencies if seconds <= bound)
        buckets.append((str(float(bound)), below))
    buckets.append(("+Inf", len(latencies)))
    return GaugeHistogramMetricFamily(
        PREFIX + "publish_to_sendgrid_seconds",
        "Seconds from an event's arrival to SendGrid accepting it, over deliveries accepted in the last hour",
        buckets=buckets,
        gsum_value=sum(latencies),
    )


def metrics_page() -> Response:
    settings = current_app.extensions["signal_sendgrid"].settings
    if settings.metrics_token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        given_bytes = given.strip().encode("utf-8", "surrogateescape")
        allowed = [t for t in (settings.metrics_token, settings.admin_token) if t]
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(given_bytes, t.encode()) for t in allowed):
            abort(401, message="a valid `Authorization: Bearer <SIGNAL_METRICS_TOKEN>` header is required")
    registry = current_app.extensions["signal_sendgrid_metrics"]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def register(app: Flask) -> None:
    """GET /metrics on the app, with a registry of its own (the process-wide default holds other apps' too)."""
    api_state = app.extensions["signal_sendgrid"]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RecordsCollector(api_state.sessions, api_state.settings.broker_url))
    app.extensions["signal_sendgrid_metrics"] = registry
    app.add_url_rule("/metrics", "metrics", metrics_page)
