"""What a flush did, and the statuses it gives deliveries on the way."""

from __future__ import annotations

from dataclasses import dataclass

from models import Delivery, DeliveryStatus


@dataclass
class FlushReport:
    requests: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retrying: int = 0
    stopped: str | None = None  # why the flush stopped early (auth, paused, rate limit, outage)


def hold(deliveries: list[Delivery], reason: str) -> None:
    for delivery in deliveries:
        delivery.reason = reason


def fail(deliveries: list[Delivery], reason: str, report: FlushReport) -> None:
    for delivery in deliveries:
        finish(delivery, DeliveryStatus.FAILED, reason)
        report.failed += 1


def finish(delivery: Delivery, status: DeliveryStatus, reason: str | None) -> None:
    delivery.status, delivery.reason, delivery.next_attempt_at = status, reason, None
