"""Per-stage throughput on real PostgreSQL, without the broker: store, process, then flush to a local sandbox.

    .venv/bin/python -m bench.stages [--events 50000] [--batch 500] [--profile process|flush]

Each stage runs over the same workload as bench.pipeline; `--profile` prints the top of a cProfile of one
stage. This is where the pipeline's CPU time goes, measured apart from the broker and SendGrid's latency.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import time
import uuid

import psycopg
from sqlalchemy import func, select

from bench import workload
from bench.pipeline import ADMIN_DSN, BIN, KEY, cpu_seconds, free_port, pids_named, wait_for_port
from models import Delivery, DeliveryStatus, Integration, IntegrationStatus
from models.db import make_engine, session_factory
from models.migrate import upgrade
from workers.delivery.flush import flush_integration
from workers.ingest.inbox import Incoming, store_events
from workers.processing.process import process_events
from workers.sendgrid.client import SendGridClient


def postgres_cpu() -> float:
    return sum(cpu_seconds(p) for p in pids_named("postgres"))


def print_table_writes(engine, events: int) -> None:
    """Rows written per event by table; HOT updates rewrite no index entry."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, (SELECT count(*) FROM pg_index i "
            "WHERE i.indrelid = relid) FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd > 0 ORDER BY relname"
        ).all()
    print("table            inserts/event  updates/event  hot updates  indexes")
    for name, ins, upd, hot, indexes in rows:
        print(f"{name:<16} {ins / events:>13.2f}  {upd / events:>13.2f}  {hot / max(upd, 1):>10.0%}  {indexes:>7}")


def flush_stage(sessions, integration_id: int, profiler: cProfile.Profile | None) -> None:
    """Flush every queued delivery to a local sandbox (no added latency): the per-delivery cost of a flush."""
    port = free_port()
    command = [
        str(BIN / "signal-sendgrid"),
        "sandbox",
        "--port",
        str(port),
        "--apply-delay",
        "0",
        "--rate-limit",
        "1000000",
    ]
    sandbox = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, "the sandbox")
        with sessions.begin() as session:
            session.get(Integration, integration_id).api_url = f"http://127.0.0.1:{port}"
            queued = session.scalar(select(func.count()).where(Delivery.status == DeliveryStatus.QUEUED))
        client_for = lambda integration: SendGridClient(integration.api_url, KEY)  # noqa: E731
        pg_before, cpu_before, started = postgres_cpu(), time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        report = flush_integration(sessions, integration_id, client_for)
        if profiler:
            profiler.disable()
        wall, cpu, pg = time.perf_counter() - started, time.process_time() - cpu_before, postgres_cpu() - pg_before
        print(f"flush:   {queued} queued deliveries in {report.requests} requests, {wall:.1f} s: "
              f"{queued / wall:,.0f} deliveries/s; CPU per delivery: flush {cpu * 1000 / queued:.3f} ms, "
              f"PostgreSQL {pg * 1000 / queued:.3f} ms")  # fmt: skip
    finally:
        sandbox.terminate()
        sandbox.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--profile", choices=["process", "flush"], help="print the top of a cProfile of a stage")
    parser.add_argument("--event-shape", choices=("full", "minimal"), default="full", help="see bench.workload")
    args = parser.parse_args()
    name = f"signal_stages_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    try:
        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            integration = Integration(name="bench", status=IntegrationStatus.ACTIVE, api_key_encrypted="-",
                                      api_key_hint="-", api_url="http://127.0.0.1:9", default_list_id=None,
                                      config={}, field_ids={})  # fmt: skip
            session.add(integration)
            session.flush()
            integration_id = integration.id
        bodies = workload.events(args.events, shape=args.event_shape)
        started = time.perf_counter()
        batches = []
        for start in range(0, len(bodies), args.batch):
            with sessions.begin() as session:
                batches.append(store_events(session, [Incoming(b) for b in bodies[start : start + args.batch]]))
        stored = time.perf_counter() - started
        profiler = cProfile.Profile() if args.profile == "process" else None
        pg_before = postgres_cpu()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for ids in batches:
            process_events(sessions, ids)
        if profiler:
            profiler.disable()
        processed = time.perf_counter() - started
        pg_used = postgres_cpu() - pg_before
        with sessions() as session:
            deliveries = session.scalar(select(func.count()).select_from(Delivery))
        print(f"events {args.events}, batch {args.batch}")
        print(f"store:   {args.events / stored:,.0f} events/s ({stored:.1f} s)")
        print(f"process: {args.events / processed:,.0f} events/s ({processed:.1f} s), {deliveries} deliveries")
        print(f"process: PostgreSQL CPU {pg_used * 1000 / args.events:.3f} ms per event")
        time.sleep(1)  # table statistics are published asynchronously
        print_table_writes(engine, args.events)
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        profiler = cProfile.Profile() if args.profile == "flush" else None
        flush_stage(sessions, integration_id, profiler)
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        engine.dispose()
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
