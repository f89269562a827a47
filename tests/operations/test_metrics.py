"""/metrics on real PostgreSQL and RabbitMQ: seeded records, scraped over HTTP, every value checked; and every
metric that deploy/alerts.yml uses is one that /metrics exports."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from kombu import Connection, Producer
from prometheus_client.parser import text_string_to_metric_families

from config.settings import load_settings
from models import AttemptKind, DeliveryAttempt, DeliveryStatus, EventStatus
from models.base import utcnow
from tests.factories import DeliveryFactory, EventFactory, IntegrationFactory
from tests.helpers.api import api_env
from workers.ingest.wire import DEAD_QUEUE_NAME, dead_exchange

pytestmark = pytest.mark.integration

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "alerts.yml"


def scrape(client) -> dict[tuple[str, tuple], float]:  # noqa: ANN001 - an ApiClient
    answer = client.get("/metrics", token=None)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


DELIVERIES = [
    (DeliveryStatus.SUCCEEDED, None),
    (DeliveryStatus.SENT, None),
    (DeliveryStatus.QUEUED, None),
    (DeliveryStatus.QUEUED, None),
    (DeliveryStatus.HELD, "held: waiting for an identify"),
    (DeliveryStatus.FAILED, "SendGrid said no"),
    (DeliveryStatus.SKIPPED, "consent_denied"),
    (DeliveryStatus.SKIPPED, "consent_denied: consent withdrawn before the batch was sent"),
    (DeliveryStatus.SKIPPED, "consent_missing: require_consent is on"),
    (DeliveryStatus.SKIPPED, "superseded: a newer event already set these fields"),
]


def seed(factories) -> None:
    """12 events (1 rejected, 1 waiting for 10 min), one delivery each for 10 of them, 4 requests to SendGrid;
    the two accepted deliveries arrived 3 s before SendGrid's 202."""
    now = utcnow()
    integration = IntegrationFactory()
    accepted = DeliveryAttempt(
        integration_id=integration.id, kind=AttemptKind.UPSERT, method="PUT", path="/v3/marketing/contacts",
        status_code=202, created_at=now,
    )  # fmt: skip
    factories.add(accepted)
    factories.add_all(
        DeliveryAttempt(integration_id=integration.id, kind=kind, method="PUT", path="/", status_code=code)
        for kind, code in [(AttemptKind.UPSERT, 429), (AttemptKind.UPSERT, None), (AttemptKind.IMPORT_POLL, 200)]
    )
    factories.commit()
    EventFactory(message_id="bad", status=EventStatus.REJECTED, reason="messageId: missing")
    EventFactory(message_id="late", status=EventStatus.RECEIVED, received_at=now - timedelta(minutes=10))
    for n, (status, reason) in enumerate(DELIVERIES):
        DeliveryFactory(
            integration=integration, event__message_id=f"m{n}", event__received_at=now - timedelta(seconds=3),
            status=status, reason=reason,
            attempt_id=accepted.id if status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.SENT) else None,
            created_at=now - timedelta(minutes=5 if status == DeliveryStatus.HELD else 1),
        )  # fmt: skip


def dead_letter(broker_url: str, count: int) -> None:
    with Connection(broker_url) as conn:
        conn.default_channel.queue_purge(DEAD_QUEUE_NAME)
        producer = Producer(conn.default_channel, exchange=dead_exchange)
        for n in range(count):
            producer.publish(b"{}", routing_key="", message_id=f"dead{n}")


def test_metrics_are_computed_from_the_records(factories, serve, pg_url, sandbox, clean_broker):
    seed(factories)
    dead_letter(clean_broker, 2)
    values = scrape(serve(load_settings(api_env(pg_url, sandbox.url, clean_broker))))

    def value(name: str, **labels: str) -> float:
        return values[(f"signal_sendgrid_{name}", tuple(sorted(labels.items())))]

    assert value("events_received_total") == 12 and value("events_rejected_total") == 1
    assert value("events_failed_total") == 0
    deliveries = {s.value: value("deliveries", status=s.value) for s in DeliveryStatus}
    assert deliveries == {
        "held": 1, "queued": 2, "sent": 1, "succeeded": 1, "import_errored": 0, "failed": 1, "skipped": 4,
    }  # fmt: skip
    assert value("consent_filtered_deliveries", reason="consent_denied") == 2
    assert value("consent_filtered_deliveries", reason="consent_missing") == 1
    assert value("consent_filtered_deliveries", reason="disabled_by_integrations") == 0
    assert value("sendgrid_requests_total", kind="upsert", code="202") == 1
    assert value("sendgrid_requests_total", kind="upsert", code="429") == 1
    assert value("sendgrid_requests_total", kind="upsert", code="none") == 1
    assert value("sendgrid_requests_total", kind="import_poll", code="200") == 1
    assert value("backlog", stage="waiting") == 1 and 600 <= value("backlog_oldest_age_seconds", stage="waiting") < 700
    assert value("backlog", stage="queued") == 2 and 60 <= value("backlog_oldest_age_seconds", stage="queued") < 160
    assert value("backlog", stage="held") == 1 and 300 <= value("backlog_oldest_age_seconds", stage="held") < 400
    # Both accepted deliveries took 3 s: in the 5 s bucket, not the 2 s one.
    assert value("publish_to_sendgrid_seconds_bucket", le="2.0") == 0
    assert value("publish_to_sendgrid_seconds_bucket", le="5.0") == 2
    assert value("publish_to_sendgrid_seconds_bucket", le="+Inf") == 2
    assert value("publish_to_sendgrid_seconds_gcount") == 2
    assert 5.9 < value("publish_to_sendgrid_seconds_gsum") < 6.5
    assert value("broker_up") == 1 and value("dead_letter_messages") == 2


def test_an_unreachable_broker_is_reported_and_the_rest_still_answers(db, serve, pg_url, sandbox):
    values = scrape(serve(load_settings(api_env(pg_url, sandbox.url, "amqp://guest:guest@127.0.0.1:1//"))))
    assert values[("signal_sendgrid_broker_up", ())] == 0
    assert ("signal_sendgrid_dead_letter_messages", ()) not in values
    assert values[("signal_sendgrid_backlog", (("stage", "queued"),))] == 0


def test_every_metric_the_alert_rules_use_is_exported(factories, serve, pg_url, sandbox, clean_broker):
    seed(factories)  # every family has samples (requests by code have none before the first request)
    rules = yaml.safe_load(ALERTS.read_text())
    exported = {name for name, _ in scrape(serve(load_settings(api_env(pg_url, sandbox.url, clean_broker))))}
    used, alerts = set(), []
    for group in rules["groups"]:
        for rule in group["rules"]:
            alerts.append(rule["alert"])
            assert rule["labels"]["severity"] in ("page", "ticket") and rule["annotations"]["summary"]
            used |= set(re.findall(r"\bsignal_sendgrid_[a-z_]+", rule["expr"]))
    assert used and used <= exported, used - exported
    for wanted in ("DeliverySuccessRateLow", "DeadLetterQueueNotEmpty", "ConsentFilterRateHigh", "BacklogTooOld"):
        assert wanted in alerts
