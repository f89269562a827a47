"""`python -m bench.retention` runs and prints its figures (a small run; the full one is in docs/privacy.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_retention_benchmark_prints_its_figures(tmp_path: Path):
    out = tmp_path / "figures.json"
    command = [sys.executable, "-m", "bench.retention", "--days", "6", "--events-per-day", "400",
               "--retention-days", "2", "--users", "300", "--output", str(out)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert json.loads(done.stdout[done.stdout.index("\n{") + 1 :]) == figures  # printed, not only written
    assert "day   6  events    2,400" in done.stdout
    assert figures["bytes_per_event_with_payloads"] > 500  # an event, its delivery and their indexes
    assert figures["growth_per_day_after_retention_bytes"] < figures["growth_per_day_before_retention_bytes"] / 2
