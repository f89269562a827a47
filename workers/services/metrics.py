"""What /metrics reports of the records, read in one read-only transaction: events and deliveries by status (with
the consent reasons of skipped ones), SendGrid requests by kind and code, the backlog through the partial indexes,
and the last hour's latencies. A few statements per scrape; `workers/admin/metrics.py` presents them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

CONSENT_REASONS = ("consent_denied", "consent_missing", "disabled_by_integrations")

EVENTS = "SELECT status, count(*) FROM events GROUP BY status"
# A skip reason starts with its code (`consent_denied`, `consent_denied: consent withdrawn ...`).
DELIVERIES = r"""
SELECT status, count(*),
       count(*) FILTER (WHERE reason LIKE 'consent\_denied%'),
       count(*) FILTER (WHERE reason LIKE 'consent\_missing%'),
       count(*) FILTER (WHERE reason LIKE 'disabled\_by\_integrations%')
FROM deliveries GROUP BY status
"""  # the three counts in the order of CONSENT_REASONS
REQUESTS = "SELECT kind, coalesce(status_code::text, 'none'), count(*) FROM delivery_attempts GROUP BY 1, 2"
# Each through its partial index (ix_events_received, ix_deliveries_queued, ix_deliveries_held_created).
BACKLOG = """
SELECT 'waiting', count(*), extract(epoch FROM now() - min(received_at)) FROM events WHERE status = 'received'
UNION ALL
SELECT 'queued', count(*), extract(epoch FROM now() - min(created_at)) FROM deliveries WHERE status = 'queued'
UNION ALL
SELECT 'held', count(*), extract(epoch FROM now() - min(created_at)) FROM deliveries WHERE status = 'held'
"""
# Among the newest LATENCY_WINDOW deliveries (a range of the primary key: deliveries.attempt_id has no index,
# and a join over every delivery took 1.4 s at a million rows; this takes 90 ms).
LATENCY_WINDOW = 100_000
LATENCY = """
SELECT extract(epoch FROM a.created_at - e.received_at)
FROM deliveries d
JOIN delivery_attempts a ON a.id = d.attempt_id
JOIN events e ON e.id = d.event_id
WHERE d.id > (SELECT max(id) FROM deliveries) - :window
  AND a.kind = 'upsert' AND a.status_code BETWEEN 200 AND 299 AND a.created_at > now() - interval '1 hour'
"""


@dataclass
class Records:
    events: dict[str, int]  # status -> count
    deliveries: list[Row]  # status, count, then a count per CONSENT_REASONS
    requests: list[Row]  # kind, code ('none': no answer), count
    backlog: list[Row]  # stage, count, seconds since the oldest (None: none)
    latencies: list[float]  # seconds from arrival to SendGrid accepting, the last hour


def read(session: Session) -> Records:
    """The figures, in `session`'s transaction (made read-only, 10 s at most per statement)."""
    session.execute(text("SET TRANSACTION READ ONLY"))
    session.execute(text("SET LOCAL statement_timeout = '10s'"))
    return Records(
        events=dict(session.execute(text(EVENTS)).all()),
        deliveries=list(session.execute(text(DELIVERIES)).all()),
        requests=list(session.execute(text(REQUESTS)).all()),
        backlog=list(session.execute(text(BACKLOG)).all()),
        latencies=[float(seconds) for seconds in session.scalars(text(LATENCY), {"window": LATENCY_WINDOW})],
    )
