"""End-to-end benchmark: the real pipeline on local RabbitMQ, PostgreSQL and the sandbox (150 ms per request).

    .venv/bin/python -m bench.pipeline [--events 200000] [--latency-events 15000]

Prints: end-to-end events/s (first publish to all deliveries out of `queued`), the bare kombu consumer's drain
rate on the same queue and the ratio, p50/p95 publish->SendGrid-request latency at 1,000 events/s, SendGrid
requests per 10,000 events, database rows written per event, and the peak memory of each process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from kombu import Connection

from bench import broker, workload

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ADMIN_DSN = os.environ.get("BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP = os.environ.get("BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672")
KEY = "SG.SandboxDemoKeyPublic00.signal-sendgrid-sandbox-demo-key-not-secret"
LIST_ID = "5f3c1a2e-8d4b-4c6a-9e7f-0a1b2c3d4e5f"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, what: str, timeout: float = 20) -> None:
    """Until something listens on the local port (a sandbox just started)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident memory, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot, from /proc/stat: this also counts processes
    that ended during the run (PostgreSQL's parallel workers, the publishers), which per-process figures miss."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK"), idle / os.sysconf("SC_CLK_TCK")


def pids_named(name: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Stack:
    """A database, a vhost, the sandbox, ingest and a Celery worker, all of this run's own."""

    def __init__(self, label: str) -> None:
        self.db_name = f"signal_bench_{label}"
        self.vhost = f"signal_bench_{label}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.probe: Probe | None = None
        self.logs = ROOT / "bench" / "results" / label
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + self.db_name
        self.broker_url = f"{AMQP}/{self.vhost}"
        self.env = {
            **os.environ,
            "DATABASE_URL": self.dsn,
            "BROKER_URL": self.broker_url,
            "SENDGRID_API_URL": f"http://127.0.0.1:{self.port}",
            "SIGNAL_SECRET_KEY": "YmVuY2ggc2VjcmV0IGtleSwgbm90IGEgcmVhbCBvbmU=",  # a Fernet key
            "SIGNAL_HOME": str(self.logs),
        }

    def __enter__(self) -> Stack:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", self.vhost], check=True)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*"], check=True
        )
        self.cli("db", "upgrade")
        return self

    def __exit__(self, *exc) -> None:
        if self.probe is not None:
            self.probe.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.vhost], check=False)
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def cli(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "signal-sendgrid"), *args], env=self.env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"signal-sendgrid {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def start(self, name: str, *args: str) -> None:
        with open(self.logs / f"{name}.log", "wb") as log:
            self.procs[name] = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    def start_sandbox(self, latency_ms: int) -> None:
        self.start("sandbox", str(BIN / "signal-sendgrid"), "sandbox", "--port", str(self.port),
                   "--latency-ms", str(latency_ms), "--rate-limit", "1000000", "--apply-delay", "0")  # fmt: skip
        wait_for_port(self.port, "the sandbox")

    def start_pipeline(self, concurrency: int, ingest_batch: int = 1000, ingest_processes: int = 2) -> None:
        for n in range(ingest_processes):
            name = "ingest" if n == 0 else f"ingest{n + 1}"
            self.start(name, str(BIN / "signal-sendgrid"), "ingest", "--batch-size", str(ingest_batch))
        self.start("worker", str(BIN / "celery"), "-A", "workers", "worker", "-B", "-l", "WARNING",
                   "-c", str(concurrency), "-s", str(self.logs / "beat-schedule"))  # fmt: skip

    def peak_memory(self) -> dict[str, float]:
        peaks = {}
        for name, proc in self.procs.items():
            peaks[name] = peak_rss_mb(proc.pid)
            for n, child in enumerate(children(proc.pid)):
                peaks[f"{name}.child{n}"] = peak_rss_mb(child)
        return peaks

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each of our processes, and of PostgreSQL and RabbitMQ as a whole."""
        used = {}
        for name, proc in self.procs.items():
            used[name] = cpu_seconds(proc.pid) + sum(cpu_seconds(c) for c in children(proc.pid))
        used["postgresql"] = sum(cpu_seconds(p) for p in pids_named("postgres"))
        used["rabbitmq"] = sum(cpu_seconds(p) for p in pids_named("beam.smp"))
        return used

    def query(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.dsn.replace("+psycopg", ""), autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def wal_position(self) -> int:
        """Bytes of write-ahead log PostgreSQL has written so far (the whole server: this run is all it does)."""
        ((lsn,),) = self.query("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        return int(lsn)

    def rows_written(self) -> int:
        ((n,),) = self.query("SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) FROM pg_stat_user_tables")
        return int(n)


class Probe:
    """How far the run is, read through one database and one broker connection kept open for the whole run.

    Polling five times a second must not load what it measures: a new connection per look (a PostgreSQL
    backend fork, an AMQP handshake) and `count(*)` over the growing events table cost more than a core's
    tenth by the end of a run, and counted as the pipeline's CPU. Every look here is an index probe.
    """

    def __init__(self, stack: Stack) -> None:
        self.db = psycopg.connect(stack.dsn.replace("+psycopg", ""), autocommit=True)
        self.amqp = Connection(stack.broker_url)
        self.queue = broker.events_queue(self.amqp.default_channel)

    def close(self) -> None:
        self.db.close()
        self.amqp.release()

    def stored_mark(self) -> int:
        """The newest event id: it moves while events arrive (ids start at 1 in the run's fresh database)."""
        return self.db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]

    def stored(self) -> int:
        return self.db.execute("SELECT count(*) FROM events").fetchone()[0]

    def settled(self) -> bool:
        """Nothing waits: no event to process, no delivery queued for SendGrid, no message in the queue."""
        (idle,) = self.db.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM events WHERE status = 'received') "
            "AND NOT EXISTS (SELECT 1 FROM deliveries WHERE status = 'queued')"
        ).fetchone()
        return idle and self.queue.queue_declare(passive=True).message_count == 0


def wait_drained(probe: Probe, expected_events: int, timeout: float) -> float:
    """Until every published event is stored and processed and nothing is queued for SendGrid; returns the
    moment that was first seen. Publishing is confirmed (bench.broker): an event that never arrives was lost
    by the pipeline, and the run fails saying so instead of waiting for it.
    """
    deadline = time.time() + timeout
    last, still_since = -1, time.time()
    while time.time() < deadline:
        now = time.time()
        mark = probe.stored_mark()
        if mark != last:
            last, still_since = mark, now
        if probe.settled():
            stored = probe.stored()
            if stored >= expected_events:
                return now
            if now - still_since > 30:
                raise RuntimeError(f"{expected_events - stored} of {expected_events} confirmed events never stored")
        time.sleep(0.2)
    raise RuntimeError(f"not drained after {timeout}s: {probe.stored()} events stored")


def run(
    events: int,
    latency_events: int,
    concurrency: int,
    latency_ms: int,
    ingest_batch: int = 1000,
    ingest_processes: int = 2,
    shape: str = "full",
) -> dict:
    label = uuid.uuid4().hex[:8]
    bodies = workload.events(events, shape=shape)
    figures: dict = {"events": events, "event_shape": shape, "mean_event_bytes": round(sum(map(len, bodies)) / events),
                     "concurrency": concurrency, "ingest_batch": ingest_batch, "ingest_processes": ingest_processes,
                     "sendgrid_latency_ms": latency_ms}  # fmt: skip
    with Stack(label) as stack:
        stack.start_sandbox(latency_ms)
        stack.cli("install", "--api-key", KEY, "--default-list-id", LIST_ID)

        # The ceiling: a bare kombu consumer draining the same queue (the median of three drains).
        broker.publish(stack.broker_url, bodies)
        drains = broker.bare_drains(stack.broker_url, len(bodies))
        figures["bare_consumer_drains_per_s"] = [round(rate) for rate in drains]
        figures["bare_consumer_per_s"] = round(statistics.median(drains))

        # End to end: first publish to every delivery out of `queued`.
        rows_before, wal_before = stack.rows_written(), stack.wal_position()
        stack.start_pipeline(concurrency, ingest_batch, ingest_processes)
        probe = stack.probe = Probe(stack)
        time.sleep(3)  # let the worker boot, so its start-up is not counted
        cpu_before, machine_before = stack.cpu(), machine_cpu()
        started = time.time()
        figures["publish_s"] = round(broker.publish(stack.broker_url, bodies), 2)
        finished = wait_drained(probe, events, timeout=1800)
        cpu_after, machine_after = stack.cpu(), machine_cpu()
        figures["cpu_ms_per_event"] = {
            k: round((cpu_after[k] - cpu_before.get(k, 0)) * 1000 / events, 3) for k in cpu_after
        }
        busy, idle = (after - before for after, before in zip(machine_after, machine_before, strict=True))
        figures["machine_cpu_ms_per_event"] = round(busy * 1000 / events, 3)  # everything, load generator included
        figures["machine_idle_share"] = round(idle / (busy + idle), 3)
        arrived = probe.stored()
        figures["events_stored"] = arrived
        figures["end_to_end_s"] = round(finished - started, 2)
        figures["end_to_end_per_s"] = round(arrived / (finished - started))
        figures["ratio_to_bare_consumer"] = round(figures["end_to_end_per_s"] / figures["bare_consumer_per_s"], 3)
        # Where the time went: when the last event was stored (ingest) and processed, from the first publish.
        ((stored_at, processed_at),) = stack.query(
            "SELECT extract(epoch FROM max(received_at)), extract(epoch FROM max(processed_at)) FROM events"
        )
        figures["last_event_stored_after_s"] = round(float(stored_at) - started, 2)
        figures["last_event_processed_after_s"] = round(float(processed_at) - started, 2)
        # PostgreSQL 15 backends publish their table statistics when they go idle, and an idle one may hold them
        # for up to 10 s (PGSTAT_IDLE_INTERVAL): a short run read 0 rows written after a shorter wait.
        time.sleep(11)
        figures["db_rows_written_per_event"] = round((stack.rows_written() - rows_before) / events, 2)
        figures["wal_bytes_per_event"] = round((stack.wal_position() - wal_before) / events)
        # Stored, not written: the database's size per event (tables, indexes, TOAST; docs/privacy.md, retention).
        ((db_bytes,),) = stack.query("SELECT pg_database_size(current_database())")
        figures["db_bytes_per_event"] = round(db_bytes / events)
        figures["rows_per_event_by_table"] = {  # inserts, updates, and the share of updates that were HOT
            name: [round(ins / events, 2), round(upd / events, 2), round(hot / max(upd, 1), 2)]
            for name, ins, upd, hot in stack.query(
                "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                "WHERE n_tup_ins + n_tup_upd > 0 ORDER BY relname"
            )
        }
        ((puts,),) = stack.query("SELECT count(*) FROM delivery_attempts WHERE kind = 'upsert'")
        ((contacts,),) = stack.query(
            "SELECT count(DISTINCT email) FROM deliveries WHERE status IN ('sent', 'succeeded')"
        )
        figures["sendgrid_requests"] = puts
        figures["sendgrid_requests_per_10k_events"] = round(puts * 10_000 / events, 2)
        figures["distinct_contacts_sent"] = contacts
        figures["deliveries_by_status"] = dict(stack.query("SELECT status, count(*) FROM deliveries GROUP BY status"))
        print("throughput phase:", json.dumps(figures, default=str), flush=True)

        # Latency at a fixed offered load, every user known.
        if latency_events:
            broker.publish(stack.broker_url, workload.identifies())
            wait_drained(probe, events + 20_000, timeout=600)
            paced = workload.events(latency_events, seed=11, prefix="lat", shape=shape)
            sent = broker.publish_paced(stack.broker_url, paced, rate=1000)
            wait_drained(probe, events + 20_000 + latency_events, timeout=600)
            rows = stack.query(
                "SELECT e.message_id, extract(epoch FROM a.created_at) - a.latency_ms / 1000.0 "
                "FROM deliveries d JOIN events e ON e.id = d.event_id JOIN delivery_attempts a ON a.id = d.attempt_id "
                "WHERE e.message_id LIKE 'lat-%%'"
            )
            waits = sorted(float(t) - sent[m] for m, t in rows if m in sent)
            figures["latency_events_measured"] = len(waits)
            figures["latency_p50_s"] = round(statistics.median(waits), 3)
            figures["latency_p95_s"] = round(waits[int(len(waits) * 0.95) - 1], 3)
        figures["peak_memory_mb"] = {k: round(v, 1) for k, v in stack.peak_memory().items()}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--latency-events", type=int, default=15_000)
    parser.add_argument("--concurrency", type=int, default=4, help="Celery worker processes (the Procfile runs 4)")
    parser.add_argument("--sendgrid-latency-ms", type=int, default=150)
    parser.add_argument("--ingest-batch", type=int, default=1000, help="signal-sendgrid ingest --batch-size")
    parser.add_argument(
        "--ingest-processes", type=int, default=2, help="ingest consumers on the queue (docker-compose runs 2)"
    )
    parser.add_argument(
        "--event-shape", choices=("full", "minimal"), default="full",
        help="full: events as a browser SDK sends them (~770 bytes); minimal: the bare envelope (~200 bytes)",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "latest.json",
                        help="where the figures are written as JSON (they are printed too)")  # fmt: skip
    args = parser.parse_args()
    figures = run(
        args.events, args.latency_events, args.concurrency, args.sendgrid_latency_ms, args.ingest_batch,
        args.ingest_processes, args.event_shape,
    )  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2, default=str))
    print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
