"""privacy: erasure records, and what retention needs

`erasures` records each request to forget a person (keyed hashes only, never the identifier in clear once it
finished); `erased_identifiers` holds the keyed hashes that processing checks so an erased person does not come
back. Retention deletes events (with their deliveries) older than SIGNAL_RETENTION_DAYS and keeps their counts in
`retained_counts`; an index on events.received_at finds the oldest, a partial one the attempts whose error text
it has not removed yet.

Revision ID: b2d4f6081a27
Revises: a1c3e5f70916
Create Date: 2026-12-01 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b2d4f6081a27"
down_revision: str | None = "a1c3e5f70916"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "local_done", "completed", "failed", name="erasurestatus", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("subject_kind", sa.String(length=20), nullable=False),
        sa.Column("subject_digest", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending_secret", sa.Text(), nullable=True),
        sa.Column("removed", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("sendgrid", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("local_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    op.create_index(op.f("ix_erasures_subject_digest"), "erasures", ["subject_digest"], unique=False)
    op.create_table(
        "erased_identifiers",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("erasure_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["erasure_id"], ["erasures.id"], name=op.f("fk_erased_identifiers_erasure_id_erasures"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erased_identifiers")),
    )
    op.create_index(op.f("ix_erased_identifiers_digest"), "erased_identifiers", ["digest"], unique=False)
    op.create_index(op.f("ix_erased_identifiers_erasure_id"), "erased_identifiers", ["erasure_id"], unique=False)
    op.create_index("ix_events_received_at", "events", ["received_at"])
    op.create_table(
        "retained_counts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("record", sa.String(length=20), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retained_counts")),
        sa.UniqueConstraint("day", "record", "integration_id", "status", "kind", name="uq_retained_counts_key"),
    )
    op.create_index(
        "ix_delivery_attempts_error_kept",
        "delivery_attempts",
        ["created_at"],
        postgresql_where=sa.text("error IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_attempts_error_kept", table_name="delivery_attempts")
    op.drop_table("retained_counts")
    op.drop_index("ix_events_received_at", table_name="events")
    op.drop_index(op.f("ix_erased_identifiers_erasure_id"), table_name="erased_identifiers")
    op.drop_index(op.f("ix_erased_identifiers_digest"), table_name="erased_identifiers")
    op.drop_table("erased_identifiers")
    op.drop_index(op.f("ix_erasures_subject_digest"), table_name="erasures")
    op.drop_table("erasures")
