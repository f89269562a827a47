"""partial status indexes; room for HOT updates of contacts

Every status change of a delivery or event used to add an entry to each index holding `status`. The indexes
now cover only the status each query looks for, so most status changes write no index entry there. Contacts
are updated in place many times: fillfactor 70 leaves room on the page for HOT updates (no index writes).

Revision ID: 1136691bbe28
Revises: a6d3d613bfdb
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1136691bbe28"
down_revision: str | None = "a6d3d613bfdb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTIAL = [
    ("ix_deliveries_queued", "deliveries", ["integration_id", "id"], "status = 'queued'"),
    ("ix_deliveries_sent_job", "deliveries", ["job_id"], "status = 'sent'"),
    ("ix_deliveries_held_created", "deliveries", ["created_at"], "status = 'held'"),
    ("ix_deliveries_failed", "deliveries", ["id"], "status IN ('failed', 'import_errored')"),
    ("ix_events_received", "events", ["id"], "status = 'received'"),
]


def upgrade() -> None:
    for name, table, columns, where in PARTIAL:
        op.create_index(name, table, columns, postgresql_where=sa.text(where))
    op.drop_index("ix_deliveries_flush", table_name="deliveries")
    op.drop_index("ix_deliveries_status_created", table_name="deliveries")
    op.drop_index("ix_deliveries_job_id", table_name="deliveries")
    op.drop_index("ix_events_status_id", table_name="events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contacts SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contacts RESET (fillfactor)")
    op.create_index("ix_events_status_id", "events", ["status", "id"])
    op.create_index("ix_deliveries_job_id", "deliveries", ["job_id"])
    op.create_index("ix_deliveries_status_created", "deliveries", ["status", "created_at"])
    op.create_index("ix_deliveries_flush", "deliveries", ["integration_id", "status", "next_attempt_at"])
    for name, table, _, _ in reversed(PARTIAL):
        op.drop_index(name, table_name=table)
