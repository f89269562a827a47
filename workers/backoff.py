"""Exponential backoff, one helper for the retry loops: ingest's broker reconnect and its batch commit, the
import poller's interval, and SendGrid outages (workers/delivery/retry.py, with full jitter).

`delay(n)` is `base * 2**n` seconds, at most `cap`; with `jitter` it is uniform in [0, that] ("full jitter",
AWS architecture blog), so clients that failed together do not come back together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base: float
    cap: float
    jitter: bool = False

    def delay(self, attempt: int) -> float:
        """Seconds to wait after `attempt` earlier tries (0 for the first wait)."""
        ceiling = min(self.cap, self.base * 2 ** min(attempt, 30))  # 2**30: past any cap, never an overflow
        return random.uniform(0, ceiling) if self.jitter else ceiling


BROKER_RECONNECT = Backoff(base=1.0, cap=30.0)  # ingest without the broker: 1 s, 2 s ... 30 s
DATABASE_COMMIT = Backoff(base=0.5, cap=10.0)  # ingest storing a batch without the database: 0.5 s ... 10 s
