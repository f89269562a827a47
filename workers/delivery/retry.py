"""Backoff for SendGrid outages: exponential with full jitter, within a retry window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from config.settings import Settings, load_settings
from workers.backoff import Backoff


@dataclass(frozen=True)
class RetryPolicy:
    # Defaults are the settings' (config/settings.py writes them once).
    base_seconds: float = Settings.retry_base_seconds
    cap_seconds: float = Settings.retry_cap_seconds
    window: timedelta = Settings.retry_window

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RetryPolicy:
        settings = settings or load_settings()
        return cls(settings.retry_base_seconds, settings.retry_cap_seconds, settings.retry_window)

    def delay(self, attempts: int) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempts)]."""
        return Backoff(self.base_seconds, self.cap_seconds, jitter=True).delay(attempts)

    def next_attempt(self, attempts: int, now: datetime) -> datetime:
        return now + timedelta(seconds=self.delay(attempts))

    def expired(self, first_seen: datetime, now: datetime) -> bool:
        return now - first_seen > self.window
