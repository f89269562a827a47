"""Live Events at 1,000,000 deliveries: seed them, then time the page's query and the whole page for every filter.

    .venv/bin/python -m bench.live_events [--deliveries 1000000] [--runs 7] [--admin-url postgresql://...]
                                         [--keep | --reuse URL] [--output figures.json]

Creates a database of its own on the local PostgreSQL (or the server of --admin-url), migrated to head, and
seeds it with COPY: three integrations (one large, one middling, one small), about 700,000 events of which 1%
were rejected, one delivery per (event, integration) with a realistic mix of statuses, types, emails, status
codes and attempts over seven days, the upsert attempts and import jobs behind them; then VACUUM ANALYZE, as
autovacuum would. Every case is timed `--runs` times: the query (workers.console.timeline) and the full HTTP
page (GET /live-events through Flask's test client, signed in), and the median and the maximum are printed.
The database is dropped afterwards unless --keep; --reuse URL times an earlier --keep's database again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import psycopg

ADMIN_DSN = os.environ.get("BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
TOKEN = "bench-live-events-admin-token-of-the-benchmark"  # noqa: S105 - the benchmark's own throwaway server
SECRET = "YmVuY2g6IGxpdmUgZXZlbnRzLCBub3QgYSBrZXkhISE="  # noqa: S105 - a Fernet key of fixed bytes, not a real one
LIMIT_MS = 300.0
KINDS = [("identify", 20), ("page", 40), ("product_viewed", 25), ("order_completed", 10), ("track", 5)]
SETTLED = [("succeeded", 84), ("skipped", 6), ("failed", 3), ("import_errored", 2), ("held", 3), ("sent", 2)]
RECENT = [("queued", 30), ("sent", 35), ("held", 10), ("succeeded", 25)]  # the last 1% of the week
CODES = {"succeeded": [202], "sent": [202], "import_errored": [202], "failed": [400, 400, 413, 500, 503],
         "queued": [None, None, 503], "held": [None, None, 429], "skipped": [None]}  # fmt: skip
NAMES = {"product_viewed": "Product Viewed", "order_completed": "Order Completed", "track": "Newsletter Opened"}


@contextmanager
def database(admin_dsn: str, keep: bool) -> Iterator[str]:
    """A new database on the server of `admin_dsn`, migrated to head; dropped afterwards unless `keep`."""
    from models.migrate import upgrade

    name = f"bench_live_events_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        if keep:
            print(f"kept: {url}", file=sys.stderr)
        else:
            with psycopg.connect(admin_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def seed(url: str, deliveries: int, now: datetime, rng_seed: int = 15) -> dict:
    """COPY `deliveries` deliveries (and their events, attempts, import jobs) in; returns what was seeded."""
    from config.secrets import encrypt_key

    rng = random.Random(rng_seed)
    started = time.perf_counter()
    span = timedelta(days=7)
    # Integration 1 gets every event, 2 four in ten, 3 one in fifty; one event in a hundred is rejected.
    events_n = int(deliveries / (1.42 * 0.99)) + 1
    key = encrypt_key("SG.bench-not-a-key.bench-not-a-key", SECRET)
    counts = {"events": 0, "rejected_events": 0, "deliveries": 0, "attempts": 0}
    with psycopg.connect(plain(url)) as conn, conn.cursor() as cur:
        for i, (name, variant) in enumerate(
            [("Marketing", "default"), ("Newsletter", "eu"), ("Loyalty", "default")], 1
        ):
            cur.execute(
                "INSERT INTO integrations (id, name, variant, delivery_mode, status, api_key_encrypted, api_key_hint,"
                " api_url, default_list_id, config, field_ids, created_at, updated_at) VALUES (%s, %s, %s,"
                " 'server_side', 'active', %s, 'SG.…a-key', 'https://api.sendgrid.com', %s, '{}', '{}', %s, %s)",
                (i, name, variant, key, str(uuid.UUID(int=i)), now - span, now - span),
            )
        event_rows, delivery_rows, attempt_rows, job_rows = [], [], [], []
        attempt_of: dict[tuple[int, int], int] = {}
        for e in itertools.count(1):  # until there are `deliveries` (events_n is the expected count)
            if counts["deliveries"] >= deliveries:
                break
            at = now - span + span * min(e / events_n, 1.0)
            kind, user = pick(rng, KINDS), rng.randrange(200_000)
            etype = kind if kind in ("identify", "page") else "track"
            payload = {"type": etype, "messageId": f"msg-{e:08d}", "userId": f"u{user}"}
            if etype == "track":
                payload["event"] = NAMES[kind]
            email = f"user{user}@example{user % 7}.com"
            if rng.random() < 0.01:
                reason = "traits.email: not an email address" if rng.random() < 0.7 else "messageId: missing"
                event_rows.append((e, payload["messageId"], etype, at, json.dumps(payload), "rejected", reason,
                                   at + timedelta(seconds=0.2), 1))  # fmt: skip
                counts["rejected_events"] += 1
                continue
            event_rows.append((e, payload["messageId"], etype, at, json.dumps(payload), "processed", None,
                               at + timedelta(seconds=0.2), 1))  # fmt: skip
            for integration in (1, 2, 3):
                if (
                    (integration == 2 and e % 10 >= 4)
                    or (integration == 3 and e % 50)
                    or counts["deliveries"] >= deliveries
                ):
                    continue
                counts["deliveries"] += 1
                d = counts["deliveries"]
                status = pick(rng, RECENT if e > events_n * 0.99 else SETTLED)
                code = rng.choice(CODES[status])
                attempt = None
                if code is not None:
                    attempt = attempt_of.setdefault((integration, d // 400), len(attempt_of) + 1)
                reason = {"failed": f"SendGrid answered {code}: invalid email", "skipped": "consent_denied",
                          "held": "waiting for an identify that gives the email",
                          "import_errored": "SendGrid import errored: errored 1; errors: https://example.test/e.csv",
                          }.get(status)  # fmt: skip
                known = status != "held"
                delivery_rows.append((
                    d, integration, e, kind, email if known else None, f"u{user}", None, at,
                    json.dumps({"plan": "pro"}), status, reason, 1 if code else 0, 0,
                    f"job-{integration}-{d // 400}" if code == 202 else None, attempt, code,
                    at + timedelta(seconds=0.25), at + timedelta(seconds=2),
                ))  # fmt: skip
        for (integration, chunk), attempt in attempt_of.items():
            at = now - span + span * (chunk * 400 / deliveries)
            job = f"job-{integration}-{chunk}"
            attempt_rows.append((attempt, integration, "upsert", "PUT", "/v3/marketing/contacts", 202, 140, 400,
                                 90_000, job, 600, 590, 60, None, at))  # fmt: skip
            job_rows.append((attempt, job, integration, "completed", 400, 2, json.dumps({"updated_count": 400}), at))
        copies = [
            ("events (id, message_id, type, received_at, payload, status, reason, processed_at, process_attempts)",
             event_rows),
            ("delivery_attempts (id, integration_id, kind, method, path, status_code, latency_ms, contacts_count,"
             " body_bytes, job_id, ratelimit_limit, ratelimit_remaining, ratelimit_reset, error, created_at)",
             attempt_rows),
            ("import_jobs (id, job_id, integration_id, status, contacts_count, polls, results, created_at)", job_rows),
            ("deliveries (id, integration_id, event_id, kind, email, user_id, anonymous_id, event_at, patch, status,"
             " reason, attempts, replay_count, job_id, attempt_id, status_code, created_at, updated_at)",
             delivery_rows),
        ]  # fmt: skip
        for target, rows in copies:
            with cur.copy(f"COPY {target} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        for table in ("integrations", "events", "deliveries", "delivery_attempts", "import_jobs"):
            # The table names are the five literals above.
            sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            cur.execute(sql)
        counts.update(events=len(event_rows), attempts=len(attempt_rows))
    with psycopg.connect(plain(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


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
    from workers.admin.app import create_app

    settings = load_settings({"DATABASE_URL": url, "SIGNAL_ADMIN_TOKEN": TOKEN, "SIGNAL_SECRET_KEY": SECRET})
    client = create_app(settings).test_client()
    with client.session_transaction() as session:
        session["signed_in_at"] = int(time.time())
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
    from workers.console.timeline import timeline

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
    lines = [f"{'case':<40} {'rows':>4}  {'query ms (median / max)':>24}  {'page ms (median / max)':>23}"]
    for f in figures:
        lines.append(f"{f['case']:<40} {f['rows']:>4}  {f['query_ms_median']:>11.1f} / {f['query_ms_max']:<10.1f}  "
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
