"""Backoff for SendGrid outages: exponential with full jitter, within a retry window."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from config.settings import Settings, load_settings


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    window: timedelta = timedelta(hours=24)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RetryPolicy:
        settings = settings or load_settings()
        return cls(settings.retry_base_seconds, settings.retry_cap_seconds, settings.retry_window)

    def delay(self, attempts: int) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempts)]."""
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2 ** min(attempts, 30)))

    def next_attempt(self, attempts: int, now: datetime) -> datetime:
        return now + timedelta(seconds=self.delay(attempts))

    def expired(self, first_seen: datetime, now: datetime) -> bool:
        return now - first_seen > self.window
