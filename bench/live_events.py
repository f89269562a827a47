"""Live Events at 1,000,000 deliveries: seed them, then time the page's query and the whole page for every filter.

    .venv/bin/python -m bench.live_events [--deliveries 1000000] [--runs 7] [--admin-url postgresql://...]
                                         [--keep | --reuse URL] [--output figures.json]

Creates a database of its own on the local PostgreSQL (or the server of --admin-url), migrated to head, and
seeds it by COPY (bench.live_events_seed: a realistic mix of statuses, types, integrations, emails and attempts
over seven days, rejected events among them). Every case is timed `--runs` times: the query
(workers.services.timeline) and the full HTTP page (GET /live-events through Flask's test client, signed in),
and the median and the maximum are printed.
The database is dropped afterwards unless --keep; --reuse URL times an earlier --keep's database again.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import psycopg

from bench.live_events_seed import ADMIN_DSN, SECRET, database, plain, seed

TOKEN = "bench-live-events-admin-token-of-the-benchmark"  # noqa: S105 - the benchmark's own throwaway server
LIMIT_MS = 300.0


@dataclass
class Case:
    name: str
    params: dict
    second_page: bool = False


def cases(now: datetime, message_id: str = "msg-00350000", email: str = "user4242@example0.com") -> list[Case]:
    window = {"from": (now - timedelta(days=3)).isoformat(), "to": (now - timedelta(days=3, hours=-1)).isoformat()}
    found = [
        Case("no filter", {}),
        *(Case(f"status={s}", {"status": s}) for s in
          ("queued", "sent", "succeeded", "held", "skipped", "failed", "import_errored", "rejected")),
        Case("type=order_completed", {"type": "order_completed"}),
        Case("type=identify", {"type": "identify"}),
        Case("integration=1 (large)", {"integration": "1"}),
        Case("integration=3 (small)", {"integration": "3"}),
        Case("time range (1 hour)", window),
        Case("q=email (exact)", {"q": email}),
        Case("q=email prefix", {"q": email[:7]}),
        Case("q=message id", {"q": message_id}),
        Case("q=no match", {"q": "nobody@nowhere.test"}),
        Case("failed + integration=3", {"status": "failed", "integration": "3"}),
        Case("queued + type=identify", {"status": "queued", "type": "identify"}),
        Case("succeeded + type + integration + time", {"status": "succeeded", "type": "product_viewed",
                                                       "integration": "2", **window}),  # fmt: skip
        Case("held + integration=3 + type=track", {"status": "held", "integration": "3", "type": "track"}),
        Case("import_errored + type=track + integration=3", {"status": "import_errored", "type": "track",
                                                             "integration": "3"}),  # fmt: skip
        Case("email prefix + held + identify (none)", {"q": email[:5], "status": "held", "type": "identify"}),
        Case("integration without deliveries", {"integration": "99"}),
        Case("page 2 (cursor), no filter", {}, second_page=True),
        Case("page 2 (cursor), status=failed", {"status": "failed"}, second_page=True),
        Case("page 2 (cursor), status=rejected", {"status": "rejected"}, second_page=True),
    ]  # fmt: skip
    return found


def console_client(url: str):
    """Flask's test client of the admin app, signed in (a session as /login leaves it)."""
    from config.settings import load_settings
    from workers.web import create_app

    settings = load_settings({"DATABASE_URL": url, "SIGNAL_ADMIN_TOKEN": TOKEN, "SIGNAL_SECRET_KEY": SECRET})
    client = create_app(settings).test_client()
    page = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"token": TOKEN, "csrf_token": csrf})
    return client


def timed(run, runs: int) -> tuple[float, float, object]:
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples), result


def measure(url: str, runs: int, now: datetime) -> list[dict]:
    from sqlalchemy import func, select

    from models import Delivery, Event
    from models.db import make_engine, session_factory
    from workers.console.live_events import filter_from
    from workers.services.timeline import timeline

    engine = make_engine(url)
    sessions = session_factory(engine)
    client = console_client(url)
    figures = []
    with sessions() as session:  # an event half way through, and its email: searches that find something
        message_id, email = session.execute(
            select(Event.message_id, Delivery.email)
            .join(Delivery, Delivery.event_id == Event.id)
            .where(Delivery.email.is_not(None), Event.id >= select(func.max(Event.id) / 2).scalar_subquery())
            .order_by(Event.id)
            .limit(1)
        ).one()
    for case in cases(now, message_id, email):
        params = dict(case.params)
        flt, _ = filter_from(params)
        cursor = None
        with sessions() as session:
            if case.second_page:
                cursor = timeline(session, flt).next  # None when one page holds them all (a small seed)
                if cursor is not None:
                    params["cursor"] = cursor.encode()
            query_median, query_max, page = timed(lambda f=flt, c=cursor: timeline(session, f, c), runs)
        path = "/live-events" + ("?" + urlencode(params) if params else "")

        def get(path: str = path) -> int:
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
            return answer.status_code

        http_median, http_max, _ = timed(get, runs)
        figures.append({"case": case.name, "rows": len(page.rows), "query_ms_median": round(query_median, 1),
                        "query_ms_max": round(query_max, 1), "page_ms_median": round(http_median, 1),
                        "page_ms_max": round(http_max, 1)})  # fmt: skip
    engine.dispose()
    return figures


def table(figures: list[dict]) -> str:
    lines = [f"{'case':<44} {'rows':>4}  {'query ms (median / max)':>24}  {'page ms (median / max)':>23}"]
    for f in figures:
        lines.append(f"{f['case']:<44} {f['rows']:>4}  {f['query_ms_median']:>11.1f} / {f['query_ms_max']:<10.1f}  "
                     f"{f['page_ms_median']:>10.1f} / {f['page_ms_max']:<10.1f}")  # fmt: skip
    slowest = max(max(f["query_ms_max"], f["page_ms_max"]) for f in figures)
    lines.append(f"slowest: {slowest:.1f} ms (limit {LIMIT_MS:.0f} ms): {'ok' if slowest < LIMIT_MS else 'TOO SLOW'}")
    return "\n".join(lines)


def run(deliveries: int, runs: int, admin_dsn: str, keep: bool = False, reuse: str | None = None) -> dict:
    now = datetime.now(UTC).replace(microsecond=0)
    if reuse:
        with psycopg.connect(plain(reuse)) as conn:
            newest = conn.execute("SELECT max(created_at) FROM deliveries").fetchone()[0]
        return {"seeded": None, "cases": measure(reuse, runs, newest)}
    with database(admin_dsn, keep) as url:
        seeded = seed(url, deliveries, now)
        return {"seeded": seeded, "cases": measure(url, runs, now)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--admin-url", default=ADMIN_DSN, help="a PostgreSQL server's admin URL (CREATE DATABASE)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database (its URL is printed)")
    parser.add_argument("--reuse", help="time the database an earlier --keep left, without seeding")
    parser.add_argument("--output", help="also write the figures as JSON here")
    args = parser.parse_args()
    figures = run(args.deliveries, args.runs, args.admin_url, args.keep, args.reuse)
    if figures["seeded"]:
        print("seeded: " + ", ".join(f"{k} {v:,}" for k, v in figures["seeded"].items()))
    print(table(figures["cases"]))
    if args.output:
        with open(args.output, "w") as out:
            json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
