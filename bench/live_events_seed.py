"""The rows bench.live_events times: 1,000,000 deliveries (by default) and what comes with them, by COPY.

Three integrations (one large, one middling, one small), about 700,000 events of which 1% were rejected, one
delivery per (event, integration) with a mix of statuses, types, emails, status codes and attempts over seven
days, the upsert attempts and import jobs behind them; then VACUUM ANALYZE, as autovacuum would.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import psycopg

ADMIN_DSN = os.environ.get("BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "YmVuY2g6IGxpdmUgZXZlbnRzLCBub3QgYSBrZXkhISE="  # noqa: S105 - a Fernet key of fixed bytes, not a real one
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
