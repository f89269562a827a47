"""New deliveries written by COPY, the fastest way in: processing's decided deliveries and the privacy guard's
skipped ones both go through `insert_deliveries`.

The rows are dicts keyed by column name; `copy_columns` checks them against the `deliveries` table once per
set of keys, so the rows and the model cannot drift apart silently.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from functools import lru_cache
from operator import itemgetter

from sqlalchemy import JSON, Enum
from sqlalchemy.orm import Session

from models.delivery import Delivery


@lru_cache(maxsize=4)
def copy_columns(keys: frozenset[str]) -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    """The `deliveries` columns that rows with these keys fill, in the table's order, and the positions of the
    JSON and of the Enum columns among them. A key that is not a column, or a column with a model default
    that the rows leave out (COPY would store NULL instead of the default), raises: the rows and the model
    cannot drift apart silently."""
    table = Delivery.__table__
    unknown = keys - set(table.c.keys())
    if unknown:
        raise ValueError(f"not columns of deliveries: {', '.join(sorted(unknown))}")
    defaulted = [c.name for c in table.c if c.name not in keys and c.default is not None]
    if defaulted:
        raise ValueError(f"deliveries rows leave out columns that have a default: {', '.join(defaulted)}")
    columns = [c for c in table.c if c.name in keys]
    json_at = tuple(i for i, c in enumerate(columns) if isinstance(c.type, JSON))
    enum_at = tuple(i for i, c in enumerate(columns) if isinstance(c.type, Enum))
    return tuple(c.name for c in columns), json_at, enum_at


def insert_deliveries(session: Session, rows: Iterable[dict]) -> None:
    """COPY new deliveries in, the fastest way. Every row has the keys of the first (itemgetter raises KeyError
    for a missing one). Other values go as they are: the product's enums are StrEnums, which psycopg writes
    as their value."""
    rows = list(rows)
    if not rows:
        return
    columns, json_at, enum_at = copy_columns(frozenset(rows[0]))
    values_of = itemgetter(*columns)
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY {Delivery.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            values = list(values_of(row))
            for i in json_at:
                if values[i] is not None:
                    values[i] = json.dumps(values[i])
            for i in enum_at:
                values[i] = plain(values[i])
            copy.write_row(values)


def plain(value: object) -> object:
    """An enum member as its stored value; anything else as it is."""
    return value.value if isinstance(value, enum.Enum) else value
