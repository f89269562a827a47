"""Quiet when idle: a real worker with beat, on PostgreSQL and RabbitMQ, with nothing to do logs no INFO line
after it is ready, while beat keeps running sweep and poll_imports (seen at DEBUG)."""

from __future__ import annotations

import os
import re
import time

import pytest

from tests.fixtures.processes import BIN, wait_for

pytestmark = pytest.mark.integration

IDLE_SECONDS = 7  # sweep runs every 5 s, poll_imports every 2 s
LEVEL = re.compile(r"\[[^\]]*: (DEBUG|INFO|WARNING|ERROR|CRITICAL)/")


def test_an_idle_worker_logs_nothing_at_info(processes, tmp_path, db):
    node = f"idle-{os.getpid()}@%h"
    args = ["-A", "workers", "worker", "-c", "1", "-l", "DEBUG", "-n", node, "-B", "-s", str(tmp_path / "beat")]
    worker = processes.start("idle", str(BIN / "celery"), *args)
    log = worker.log_path  # type: ignore[attr-defined]
    wait_for(lambda: " ready." in log.read_text(errors="replace"), timeout=60, what="the worker to be ready")
    ready_at = len(log.read_text(errors="replace"))
    time.sleep(IDLE_SECONDS)
    idle = log.read_text(errors="replace")[ready_at:]

    info = [line for line in idle.splitlines() if (m := LEVEL.search(line)) and m.group(1) != "DEBUG"]
    assert info == [], "\n".join(info[:20])
    # The housekeeping did run: beat sent it and the worker ran it, logged at DEBUG.
    assert len(re.findall(r"DEBUG/[^\]]*\] Task signal\.poll_imports\[[^\]]+\] succeeded", idle)) >= 2, idle[-3000:]
    assert re.search(r"DEBUG/[^\]]*\] Task signal\.sweep\[[^\]]+\] succeeded", idle), idle[-3000:]
    assert "sweep: 0 events re-triggered, 0 integrations flushed, 0 held deliveries expired" in idle
