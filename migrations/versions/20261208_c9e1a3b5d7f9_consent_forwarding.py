"""consent forwarding: a partial index of the contacts whose consent the unsubscribe group does not reflect yet

The flush forwards them and the sweep finds the integrations that have any (a flush trigger lost after a consent
change no longer waits for the next event). Nearly every contact is in step, so the index stays small.

Revision ID: c9e1a3b5d7f9
Revises: b8d0f2a4c6e8
Create Date: 2026-12-08 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c9e1a3b5d7f9"
down_revision: str | None = "b8d0f2a4c6e8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSENT_UNFORWARDED = "(consent IS false AND NOT suppressed) OR (consent IS true AND suppressed)"


def upgrade() -> None:
    op.create_index(
        "ix_contacts_consent_unforwarded",
        "contacts",
        ["integration_id"],
        postgresql_where=sa.text(CONSENT_UNFORWARDED),
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_consent_unforwarded", table_name="contacts")
