"""Rate-limit buckets and injected faults: what the sandbox does to a request before serving it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RateInfo:
    limit: int
    remaining: int
    reset_at: float  # epoch seconds
    allowed: bool = True

    def headers(self, now: float, relative: bool) -> dict[str, str]:
        reset = max(0, math.ceil(self.reset_at - now)) if relative else math.ceil(self.reset_at)
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(reset),
        }


class RateLimiter:
    """A fixed window per key: ``limit`` requests per ``window`` seconds, counted from the first."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._buckets: dict[str, tuple[float, int]] = {}

    def _bucket(self, key: str, now: float) -> tuple[float, int]:
        start, count = self._buckets.get(key, (now, 0))
        if now >= start + self.window:
            start, count = now, 0
        return start, count

    def hit(self, key: str, now: float) -> RateInfo:
        start, count = self._bucket(key, now)
        if count >= self.limit:
            self._buckets[key] = (start, count)
            return RateInfo(self.limit, 0, start + self.window, allowed=False)
        self._buckets[key] = (start, count + 1)
        return RateInfo(self.limit, self.limit - count - 1, start + self.window)

    def peek(self, key: str, now: float) -> RateInfo:
        start, count = self._bucket(key, now)
        return RateInfo(self.limit, max(0, self.limit - count), start + self.window)

    def clear(self) -> None:
        self._buckets.clear()


class FaultConfigError(ValueError):
    """A fault configuration that makes no sense (a rate above 1, a 2xx error status ...)."""


@dataclass
class Faults:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    reset_rate: float = 0.0
    storm_count: int = 0  # the next N matching requests answer 429
    storm_until: float = 0.0  # epoch: matching requests answer 429 until then
    paths: list[str] | None = None  # path prefixes the faults apply to; None: every API path

    @classmethod
    def from_json(cls, body: dict, now: float) -> Faults:
        try:
            faults = cls(
                latency_ms=float(body.get("latency_ms", 0)),
                error_rate=float(body.get("error_rate", 0)),
                error_status=int(body.get("error_status", 503)),
                reset_rate=float(body.get("reset_rate", 0)),
                paths=body.get("paths"),
            )
            storm = body.get("storm_429") or {}
            faults.storm_count = int(storm.get("count", 0))
            if storm.get("seconds"):
                faults.storm_until = now + float(storm["seconds"])
        except (TypeError, ValueError, AttributeError) as exc:
            raise FaultConfigError(f"invalid fault configuration: {exc}") from None
        if not (0 <= faults.error_rate <= 1 and 0 <= faults.reset_rate <= 1):
            raise FaultConfigError("error_rate and reset_rate must be between 0 and 1")
        if not 500 <= faults.error_status <= 599:
            raise FaultConfigError("error_status must be a 5xx status")
        if faults.latency_ms < 0 or faults.storm_count < 0:
            raise FaultConfigError("latency_ms and storm_429.count must not be negative")
        if faults.paths is not None and not all(isinstance(p, str) for p in faults.paths):
            raise FaultConfigError("paths must be a list of path prefixes")
        return faults

    def to_json(self, now: float) -> dict:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "error_status": self.error_status,
            "reset_rate": self.reset_rate,
            "storm_429": {"count": self.storm_count, "seconds": max(0.0, round(self.storm_until - now, 3))},
            "paths": self.paths,
        }

    def applies_to(self, path: str) -> bool:
        return self.paths is None or any(path.startswith(prefix) for prefix in self.paths)


@dataclass
class FaultDecision:
    """What to do to one request: wait ``latency`` seconds, then maybe ``action`` it."""

    latency: float = 0.0
    action: str | None = None  # "reset" | "storm" | "error"
    status: int = 0
    storm_reset_at: float = 0.0


def decide(faults: Faults, path: str, now: float, rng: random.Random) -> FaultDecision:
    """Roll the dice for one request. Consumes one storm request when the storm is by count."""
    if not faults.applies_to(path):
        return FaultDecision()
    decision = FaultDecision(latency=faults.latency_ms / 1000.0)
    if faults.reset_rate and rng.random() < faults.reset_rate:
        decision.action = "reset"
    elif faults.storm_count > 0 or now < faults.storm_until:
        if faults.storm_count > 0:
            faults.storm_count -= 1
        decision.action = "storm"
        decision.storm_reset_at = max(faults.storm_until, now + 1.0)
    elif faults.error_rate and rng.random() < faults.error_rate:
        decision.action = "error"
        decision.status = faults.error_status
    return decision
