"""workers/delivery/retry.py: exponential backoff with full jitter, capped, within a retry window.

Randomness is pinned: the `random` of workers/backoff.py (where RetryPolicy draws its delays) is replaced by a
seeded generator (or by one that returns a bound), so every assertion is exact or a bound, never a matter of luck.
"""

from __future__ import annotations

import random
import statistics
from datetime import timedelta

import pytest

from config.settings import load_settings
from tests.unit.builders import NOW
from workers import backoff
from workers.delivery.retry import RetryPolicy


class Bound:
    """A `random` whose uniform(a, b) is always a, or always b."""

    def __init__(self, upper: bool) -> None:
        self.upper = upper
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return b if self.upper else a


@pytest.fixture
def top(monkeypatch: pytest.MonkeyPatch) -> Bound:
    bound = Bound(upper=True)
    monkeypatch.setattr(backoff, "random", bound)
    return bound


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backoff, "random", random.Random(1414))


@pytest.mark.parametrize(("attempts", "ceiling"), [(0, 2.0), (1, 4.0), (2, 8.0), (5, 64.0), (8, 512.0)])
def test_the_ceiling_doubles_with_each_attempt(top, attempts, ceiling):
    assert RetryPolicy().delay(attempts) == ceiling
    assert top.calls == [(0, ceiling)]


@pytest.mark.parametrize("attempts", [9, 10, 30, 31, 1000, 10**9])
def test_the_ceiling_is_capped_and_huge_attempt_counts_do_not_overflow(top, attempts):
    assert RetryPolicy().delay(attempts) == 600.0


def test_the_floor_is_zero(monkeypatch):
    monkeypatch.setattr(backoff, "random", Bound(upper=False))
    assert RetryPolicy().delay(7) == 0


def test_a_custom_base_and_cap(top):
    policy = RetryPolicy(base_seconds=0.2, cap_seconds=2.0)
    assert [policy.delay(n) for n in range(6)] == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


@pytest.mark.parametrize("attempts", [0, 3, 9, 40])
def test_full_jitter_spreads_over_the_whole_range(seeded, attempts):
    policy = RetryPolicy()
    ceiling = min(policy.cap_seconds, policy.base_seconds * 2**attempts)
    delays = [policy.delay(attempts) for _ in range(2000)]
    assert all(0 <= d <= ceiling for d in delays)
    # Uniform on [0, ceiling]: mean ceiling/2 (standard error ceiling/155 for 2000 draws), both ends reached.
    assert statistics.fmean(delays) == pytest.approx(ceiling / 2, rel=0.05)
    assert min(delays) < 0.01 * ceiling and max(delays) > 0.99 * ceiling
    assert len(set(delays)) == len(delays)  # jittered, not a fixed schedule


def test_next_attempt_is_now_plus_the_delay(top):
    assert RetryPolicy().next_attempt(3, NOW) == NOW + timedelta(seconds=16)


def test_the_window_expires_strictly_after_it_has_passed():
    policy = RetryPolicy(window=timedelta(hours=24))
    assert not policy.expired(NOW, NOW)
    assert not policy.expired(NOW - timedelta(hours=24), NOW)
    assert policy.expired(NOW - timedelta(hours=24, microseconds=1), NOW)
    assert not policy.expired(NOW + timedelta(hours=1), NOW)  # created "later" (clock skew): not expired


def test_defaults():
    assert RetryPolicy() == RetryPolicy(2.0, 600.0, timedelta(hours=24))


def test_from_settings_reads_the_three_settings():
    env = {"SIGNAL_RETRY_BASE_SECONDS": "0.5", "SIGNAL_RETRY_CAP_SECONDS": "30", "SIGNAL_RETRY_WINDOW_HOURS": "1.5"}
    assert RetryPolicy.from_settings(load_settings(env)) == RetryPolicy(0.5, 30.0, timedelta(minutes=90))


def test_from_settings_without_settings_is_the_default():
    assert RetryPolicy.from_settings(load_settings({})) == RetryPolicy()
