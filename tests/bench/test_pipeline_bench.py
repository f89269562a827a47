"""Issue #8: the benchmark runs with its one documented command and prints every figure the issue asks for.

A small run (3,000 events, 600 paced), so CI notices when the benchmark breaks; the figures themselves come from
the full runs recorded in docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_benchmark_prints_every_figure(tmp_path: Path):
    out = tmp_path / "figures.json"
    command = [sys.executable, "-m", "bench.pipeline", "--events", "3000", "--latency-events", "600",
               "--sendgrid-latency-ms", "20", "--output", str(out)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert json.loads(done.stdout[done.stdout.index("\n{") + 1 :]) == figures  # printed, not only written

    assert figures["events_stored"] == 3_000  # publishing is confirmed: every event arrives
    assert figures["end_to_end_per_s"] > 0 and figures["bare_consumer_per_s"] > 0
    assert figures["ratio_to_bare_consumer"] == round(figures["end_to_end_per_s"] / figures["bare_consumer_per_s"], 3)
    assert len(figures["bare_consumer_drains_per_s"]) == 3
    assert 0 < figures["latency_p50_s"] <= figures["latency_p95_s"] < 60
    assert figures["latency_events_measured"] > 0
    assert figures["sendgrid_requests"] > 0 and figures["sendgrid_requests_per_10k_events"] > 0
    assert figures["db_rows_written_per_event"] > 1 and figures["wal_bytes_per_event"] > 0
    assert figures["db_bytes_per_event"] > 0
    assert figures["deliveries_by_status"].get("succeeded", 0) + figures["deliveries_by_status"].get("sent", 0) > 0
    memory = figures["peak_memory_mb"]
    assert {"sandbox", "ingest", "ingest2", "worker"} <= set(memory) and all(mb > 10 for mb in memory.values())
    assert {"worker", "postgresql", "rabbitmq", "ingest"} <= set(figures["cpu_ms_per_event"])
    assert figures["machine_cpu_ms_per_event"] > 0
