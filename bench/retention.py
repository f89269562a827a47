"""Retention benchmark: bytes stored per event, and the database size under a steady stream with retention on.

    .venv/bin/python -m bench.retention [--days 12] [--events-per-day 2000] [--retention-days 4] [--output FILE]

A fresh PostgreSQL database (migrated), the sandbox in-process as SendGrid, the pipeline's own functions
(store, process, flush, import poll) and the retention beat's `apply_retention`. The clock is simulated: each
simulated day's events and attempts are dated that day, and retention runs with that day as "now", followed by
the VACUUM autovacuum would do, so the space retention freed is reused. Prints, day by day, the
events stored, the database's size and its growth, then the figures: bytes per event with payloads (before
retention starts), growth per day before and after the retention period, and the share of it left.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from cryptography.fernet import Fernet
from sqlalchemy import text

from bench import workload

ADMIN_DSN = os.environ.get("BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
TABLES = ("events", "deliveries", "delivery_attempts", "contacts", "identities", "orders", "import_jobs",
          "retained_counts")  # fmt: skip
DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(days: int, per_day: int, retention_days: float, users: int) -> dict:
    name = f"signal_bench_retention_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = "postgresql+psycopg://" + ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name
    try:
        return measure(url, days, per_day, retention_days, users)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(url: str, days: int, per_day: int, retention_days: float, users: int) -> dict:
    from sandbox import DEFAULT_KEY, DEFAULT_LIST_ID
    from sandbox.server import SandboxServer

    with SandboxServer(port=0, apply_delay=0.0) as box:
        os.environ.update(DATABASE_URL=url, SENDGRID_API_URL=box.url, SIGNAL_SECRET_KEY=Fernet.generate_key().decode())
        from config.settings import load_settings
        from models.db import make_engine, session_factory
        from models.migrate import upgrade
        from workers.integrations.install import InstallRequest, install

        upgrade(url)
        engine = make_engine(url)
        sessions = session_factory(engine)
        settings = load_settings()
        with sessions.begin() as session:
            install(session, InstallRequest(api_key=DEFAULT_KEY, default_list_id=DEFAULT_LIST_ID), settings)
        # Every visitor identified first (as bench/pipeline.py does), so no event waits held for an identify.
        setup(sessions, box, DEFAULT_KEY, users)
        rows, stored, started = [], 0, time.monotonic()
        baseline = sum(table_bytes(engine).values())
        for day in range(days):
            stored += one_day(sessions, box, DEFAULT_KEY, day, per_day, users)
            now = DAY0 + timedelta(days=day + 1)
            removed = retention(sessions, engine, retention_days, now)
            sizes = table_bytes(engine)
            total = sum(sizes.values())
            growth = total - (rows[-1]["bytes"] if rows else baseline)
            rows.append({"day": day + 1, "events": stored, "bytes": total, "growth": growth, "removed": removed,
                         "tables": sizes})  # fmt: skip
            print(f"day {day + 1:>3}  events {stored:>8,}  database {total / 1e6:8.2f} MB  "
                  f"growth {growth / 1e6:+7.2f} MB  removed {removed['events']:>6,} events", flush=True)  # fmt: skip
        engine.dispose()
    return figures(rows, per_day, retention_days, time.monotonic() - started)


def setup(sessions, box, key: str, users: int) -> None:
    deliver(sessions, box, key, workload.identifies(users))
    with sessions.begin() as session:
        at = DAY0 - timedelta(days=365)  # long before: stripped on the first day, outside the figures
        session.execute(text("UPDATE events SET received_at = :at"), {"at": at})
        session.execute(text("UPDATE delivery_attempts SET created_at = :at"), {"at": at})
    retention(sessions, sessions.kw["bind"], 1, DAY0)


def deliver(sessions, box, key: str, bodies: list[bytes]) -> list[int]:
    from workers.delivery.flush import flush_integration
    from workers.delivery.imports import poll_imports
    from workers.ingest.inbox import Incoming, store_events
    from workers.processing.process import process_events
    from workers.sendgrid.client import SendGridClient

    def client_for(integration):
        return SendGridClient(integration.api_url, key)

    with sessions.begin() as session:
        ids = store_events(session, [Incoming(b) for b in bodies])
    for start in range(0, len(ids), 1000):
        for integration_id in process_events(sessions, ids[start : start + 1000]):
            flush_integration(sessions, integration_id, client_for)
    box.state.apply_due_jobs(force=True)
    poll_imports(sessions, client_for, now=datetime.now(UTC) + timedelta(hours=1))
    return ids


def one_day(sessions, box, key: str, day: int, per_day: int, users: int) -> int:
    """A day's events through the pipeline, then dated that day (the simulated clock)."""
    with sessions.begin() as session:
        first = session.scalar(text("SELECT coalesce(max(id), 0) FROM events"))
    ids = deliver(sessions, box, key, workload.events(per_day, users=users, seed=day, prefix=f"d{day}"))
    at = DAY0 + timedelta(days=day, hours=12)
    with sessions.begin() as session:
        session.execute(text("UPDATE events SET received_at = :at WHERE id > :first"), {"at": at, "first": first})
        session.execute(text("UPDATE delivery_attempts SET created_at = :at WHERE created_at > :day0"),
                        {"at": at, "day0": DAY0 + timedelta(days=day + 1)})  # fmt: skip
    return len(ids)


def retention(sessions, engine, retention_days: float, now: datetime) -> dict:
    from workers.privacy.retention import apply_retention

    removed = apply_retention(sessions, timedelta(days=retention_days), now=now, budget=600)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE " + ", ".join(TABLES)))  # what autovacuum does between beats
    return removed


def table_bytes(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.scalar(text("SELECT pg_total_relation_size(:t)"), {"t": t}) for t in TABLES}


def figures(rows: list[dict], per_day: int, retention_days: float, seconds: float) -> dict:
    """Growth per day while everything is kept (days 2..R; day 1 also fills the empty pages) against growth per
    day once retention deletes a day's worth every day (from day R+3)."""
    full = max(int(retention_days), 1)
    before = rows[1:full] or rows[:1]
    after = rows[full + 2 :]  # day R+1 deletes the first day, day R+2 still fills pages VACUUM freed late
    growth_before = sum(r["growth"] for r in before) / len(before)
    growth_after = sum(r["growth"] for r in after) / len(after) if after else None
    return {
        "days": len(rows),
        "events_per_day": per_day,
        "retention_days": retention_days,
        "bytes_per_event_with_payloads": round(growth_before / per_day),
        "bytes_per_event_after_retention": None if growth_after is None else round(growth_after / per_day),
        "growth_per_day_before_retention_bytes": round(growth_before),
        "growth_per_day_after_retention_bytes": None if growth_after is None else round(growth_after),
        "growth_left_after_retention": None if growth_after is None else round(growth_after / growth_before, 3),
        "database_bytes_by_day": [r["bytes"] for r in rows],
        "tables_last_day": rows[-1]["tables"],
        "seconds": round(seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retention", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=12)
    parser.add_argument("--events-per-day", type=int, default=2000)
    parser.add_argument("--retention-days", type=float, default=4)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--output", help="Also write the figures as JSON to this file.")
    args = parser.parse_args(argv)
    result = run(args.days, args.events_per_day, args.retention_days, args.users)
    print(json.dumps(result, indent=2))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
