"""console: the indexes Live Events' filters and keyset pagination need

Live Events reads deliveries newest first by (created_at, id) with a keyset cursor; each index below leads with
one filter (none, status, type, integration) and carries the other filtered columns, so any combination of
filters is an index-only scan of one of them (bench/live_events.py: under 300 ms at 1,000,000 deliveries).
Email search has a pattern-ops index; the unique (integration, event) constraint is turned round to (event,
integration) so that it also finds an event's deliveries; rejected events get a partial index of their own.

Revision ID: c3e5071a2b38
Revises: b2d4f6081a27
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3e5071a2b38"
down_revision: str | None = "b2d4f6081a27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


LIVE = [
    ("ix_deliveries_created", ["created_at", "id"], ["status", "kind", "integration_id"]),
    ("ix_deliveries_status_created", ["status", "created_at", "id"], ["kind", "integration_id"]),
    ("ix_deliveries_kind_created", ["kind", "created_at", "id"], ["status", "integration_id"]),
    ("ix_deliveries_integration_created", ["integration_id", "created_at", "id"], ["status", "kind"]),
]
REJECTED = "status IN ('rejected', 'failed')"


def upgrade() -> None:
    for name, columns, include in LIVE:
        op.create_index(name, "deliveries", columns, postgresql_include=include)
    op.create_index("ix_deliveries_email", "deliveries", ["email"], postgresql_ops={"email": "text_pattern_ops"})
    op.create_unique_constraint("uq_deliveries_event_integration", "deliveries", ["event_id", "integration_id"])
    op.drop_constraint("uq_deliveries_integration_event", "deliveries", type_="unique")
    op.create_index("ix_events_rejected", "events", ["processed_at", "id"], postgresql_where=sa.text(REJECTED))


def downgrade() -> None:
    op.drop_index("ix_events_rejected", table_name="events")
    op.create_unique_constraint("uq_deliveries_integration_event", "deliveries", ["integration_id", "event_id"])
    op.drop_constraint("uq_deliveries_event_integration", "deliveries", type_="unique")
    op.drop_index("ix_deliveries_email", table_name="deliveries")
    for name, _, _ in reversed(LIVE):
        op.drop_index(name, table_name="deliveries")
