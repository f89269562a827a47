"""Admin route of the counts by status (GET /v1/admin/stats)."""

from __future__ import annotations

from workers.admin import schemas
from workers.admin.blueprint import blp, documented_errors, transaction


@blp.route("/admin/stats", methods=["GET"])
@blp.response(200, schemas.StatsSchema)
@documented_errors()
def get_stats() -> dict:
    """Counts by status: events received and rejected; deliveries queued, sent, succeeded, failed, skipped"""
    from workers.services.reports import stats

    with transaction() as session:
        return stats(session)
