"""Helpers of the reliability tests: process trees, the supervised processes, service restarts, log figures."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

from tests.fixtures import private_services
from tests.fixtures.processes import BIN, Processes


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found.append(child)
        found.extend(descendants(child))
    return found


def sigkill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def kill_tree(proc: subprocess.Popen) -> int:
    """SIGKILL a process and everything it started (a Celery worker's pool and beat); returns processes hit."""
    pids = [proc.pid, *descendants(proc.pid)]
    for pid in pids:
        sigkill(pid)
    proc.wait(timeout=30)
    return len(pids)


class Supervised:
    """The ingest consumer, a Celery worker and Celery beat as the Procfile runs them (beat its own process),
    each restarted when it dies, like systemd's Restart=always would."""

    def __init__(self, processes: Processes, concurrency: int = 2) -> None:
        self.processes = processes
        self.concurrency = concurrency
        self.ingest: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.starts = {"ingest": 0, "worker": 0, "beat": 0}

    def start_ingest(self) -> None:
        # -v: the consumer logs each batch with its redelivered count, which the crash test adds up.
        self.ingest = self.processes.start("ingest", str(BIN / "signal-sendgrid"), "-v", "ingest", "--batch-ms", "100")
        self.starts["ingest"] += 1

    def start_worker(self) -> None:
        node = f"chaos-{os.getpid()}-{len(self.processes.running)}@%h"
        args = ["-A", "workers", "worker", "-c", str(self.concurrency), "-l", "INFO", "-n", node]
        self.worker = self.processes.start("worker", str(BIN / "celery"), *args)
        self.starts["worker"] += 1

    def start_beat(self) -> None:
        schedule = str(self.processes.logs / "beat-schedule")
        self.beat = self.processes.start(
            "beat", str(BIN / "celery"), "-A", "workers", "beat", "-l", "INFO", "-s", schedule
        )
        self.starts["beat"] += 1

    def ensure(self) -> None:
        if self.ingest is None or self.ingest.poll() is not None:
            self.start_ingest()
        if self.worker is None or self.worker.poll() is not None:
            if self.worker is not None:
                kill_tree(self.worker)  # a dead main process may leave its pool behind
            self.start_worker()
        if self.beat is None or self.beat.poll() is not None:
            self.start_beat()

    def alive(self) -> bool:
        return all(p is not None and p.poll() is None for p in (self.ingest, self.worker, self.beat))


# The outage tests stop PostgreSQL and RabbitMQ: the private ones `services_restored` gives them (tests/fixtures/
# private_services.py), never the machine's. The restarts act on those and refuse to run outside such a test.
restart_postgres = private_services.restart_postgres


restart_rabbitmq = private_services.restart_rabbitmq


wait_until = private_services.wait_until


_BATCH = re.compile(r"batch of (\d+) messages \((\d+) redelivered\): (\d+) new events")


_RECEIVED = re.compile(r"Task (signal\.[a-z_]+)\[([0-9a-f-]{36})\] received")


def ingest_counts(log_text: str) -> dict[str, int]:
    """Messages the ingest consumer committed (from its -v log), and how many of them were redeliveries."""
    batches = [tuple(map(int, m.groups())) for m in _BATCH.finditer(log_text)]
    return {
        "messages": sum(b[0] for b in batches),
        "redelivered": sum(b[1] for b in batches),
        "new": sum(b[2] for b in batches),
    }


def task_redeliveries(log_text: str) -> dict[str, int]:
    """Celery triggers received more than once (the same task id again: a redelivery after a crash)."""
    seen: dict[str, int] = {}
    for match in _RECEIVED.finditer(log_text):
        seen[match.group(2)] = seen.get(match.group(2), 0) + 1
    return {"tasks_received": sum(seen.values()), "tasks_redelivered": sum(n - 1 for n in seen.values() if n > 1)}


def log_of(processes: Processes, name: str) -> str:
    """One process's log file (restarts of a process append to the same file)."""
    path = processes.logs / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def all_logs(processes: Processes) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(processes.logs.glob("*.log")))
