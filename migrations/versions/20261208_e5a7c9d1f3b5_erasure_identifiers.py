"""erasure identifiers: every identifier of a forgotten person, recorded at request time, and the indexes that
find a person's rows by what they name

- `event_names(payload)`: the identifiers an event names, as `kind:value` texts (`email:` lower-cased from
  `traits.email` and `context.traits.email`, `user:` userId, `anonymous:` anonymousId; each cut at 300
  characters so that a hostile value never exceeds an index entry), with a GIN index on it;
- `ix_events_raw_body`: the few events kept as a raw body (not JSON), searched as text;
- `ix_identities_email`: the identity links of an email;
- `erased_identifiers.source`: `request`, `resolved` (by the local step) or `learned` (from a later event).

Building the GIN index reads every stored event once (about 10 s per million events); writes to `events` wait
for it.

Revision ID: e5a7c9d1f3b5
Revises: d4a6b8c0e2f4
Create Date: 2026-12-08 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5a7c9d1f3b5"
down_revision: str | None = "d4a6b8c0e2f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_NAMES = """
CREATE FUNCTION event_names(payload jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT array_remove(ARRAY[
    left('email:' || lower(btrim(payload -> 'traits' ->> 'email')), 300),
    left('email:' || lower(btrim(payload -> 'context' -> 'traits' ->> 'email')), 300),
    left('user:' || (payload ->> 'userId'), 300),
    left('anonymous:' || (payload ->> 'anonymousId'), 300)
  ], NULL)
$$
"""


def upgrade() -> None:
    op.execute(EVENT_NAMES)
    op.execute("CREATE INDEX ix_events_names ON events USING gin (event_names(payload))")
    op.create_index("ix_events_raw_body", "events", ["id"], postgresql_where=sa.text("raw_body IS NOT NULL"))
    op.create_index("ix_identities_email", "identities", ["email"])
    op.add_column("erased_identifiers", sa.Column("source", sa.String(length=20), nullable=True))


def downgrade() -> None:
    op.drop_column("erased_identifiers", "source")
    op.drop_index("ix_identities_email", table_name="identities")
    op.drop_index("ix_events_raw_body", table_name="events")
    op.drop_index("ix_events_names", table_name="events")
    op.execute("DROP FUNCTION event_names(jsonb)")
