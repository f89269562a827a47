"""erasure identifiers: every identifier of a forgotten person, recorded at request time

Revision ID: e5a7c9d1f3b5
Revises: d4a6b8c0e2f4
Create Date: 2026-12-08 02:30:00
"""

from collections.abc import Sequence

revision: str = "e5a7c9d1f3b5"
down_revision: str | None = "d4a6b8c0e2f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
