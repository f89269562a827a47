"""The Live Events benchmark runs with its documented command and prints a figure for every filter.

A small run (3,000 deliveries, one run per case), so CI notices when the benchmark breaks; the figures at
1,000,000 deliveries come from full runs, recorded in docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from bench.live_events import cases
from tests.fixtures.services import ADMIN_DSN, unavailable

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration]


def test_the_live_events_benchmark_times_every_filter(tmp_path: Path):
    try:
        psycopg.connect(ADMIN_DSN, connect_timeout=3).close()
    except psycopg.OperationalError as e:
        unavailable("PostgreSQL", e)
    out = tmp_path / "figures.json"
    command = [sys.executable, "-m", "bench.live_events", "--deliveries", "3000", "--runs", "1",
               "--admin-url", ADMIN_DSN, "--output", str(out)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())

    seeded = figures["seeded"]
    assert seeded["deliveries"] == 3000 and seeded["rejected_events"] > 0 and seeded["attempts"] > 0
    names = [case.name for case in cases(datetime.now(UTC))]
    assert [f["case"] for f in figures["cases"]] == names
    by_name = {f["case"]: f for f in figures["cases"]}
    assert by_name["no filter"]["rows"] == 50 and by_name["status=rejected"]["rows"] > 0
    assert by_name["q=message id"]["rows"] >= 1 and by_name["q=no match"]["rows"] == 0
    assert all(0 < f["query_ms_median"] <= f["query_ms_max"] and f["page_ms_median"] > 0 for f in figures["cases"])
    for f in figures["cases"]:  # every figure is printed, not only written
        assert f["case"] in done.stdout
    assert "slowest:" in done.stdout and "seeded: events" in done.stdout
