"""workers/backoff.py: the one backoff helper, with the sequences its four users wait."""

from __future__ import annotations

import pytest

from workers import backoff
from workers.backoff import BROKER_RECONNECT, DATABASE_COMMIT, Backoff
from workers.delivery.imports import POLL_BACKOFF


def waits(policy: Backoff, count: int) -> list[float]:
    return [policy.delay(n) for n in range(count)]


def test_ingest_reconnects_after_one_second_doubling_up_to_thirty():
    assert waits(BROKER_RECONNECT, 7) == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_ingest_commits_again_after_half_a_second_doubling_up_to_ten():
    assert waits(DATABASE_COMMIT, 7) == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_an_import_job_is_polled_again_after_two_to_the_polls_seconds_up_to_a_minute():
    assert [POLL_BACKOFF.delay(polls) for polls in (1, 2, 5, 6, 7)] == [2.0, 4.0, 32.0, 60.0, 60.0]


@pytest.mark.parametrize("attempt", [31, 1100, 10**9])
def test_huge_attempt_counts_do_not_overflow(attempt):
    assert Backoff(1.0, 60.0).delay(attempt) == 60.0


def test_jitter_is_uniform_below_the_ceiling(monkeypatch):
    calls = []

    class Half:
        def uniform(self, a: float, b: float) -> float:
            calls.append((a, b))
            return b / 2

    monkeypatch.setattr(backoff, "random", Half())
    assert Backoff(2.0, 600.0, jitter=True).delay(3) == 8.0
    assert calls == [(0, 16.0)]
