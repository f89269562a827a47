"""Rows as array parameters: `unnest(:a, :b, ...)` as a derived table, typed after the columns the rows fill.

One statement text whatever the number of rows (compiled once, no placeholder per value); models.db sends
the lists as binary arrays.
"""

from __future__ import annotations

from sqlalchemy import ARRAY, JSON, Column, Numeric, String, Text, bindparam, cast, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine


def unnest(**columns: Column) -> TableValuedAlias:
    """`unnest(:a, :b, ...) AS anon_1(a, b, ...)`: rows from one array parameter per keyword, each typed after the
    column it fills (`%(a)s::BIGINT[]`; models.db sends lists as binary arrays)."""
    arrays = [bindparam(name, type_=ARRAY(_element(column), dimensions=1)) for name, column in columns.items()]
    return func.unnest(*arrays).table_valued(*columns).render_derived()


def _element(column: Column) -> TypeEngine | type[TypeEngine]:
    """A column's type as an array element: strings as `text` (a cast to `varchar(n)` would truncate silently
    where storing into the column fails loudly), JSON as text cast to jsonb by the statement, numbers without
    a precision to round to."""
    if isinstance(column.type, String | JSON):
        return Text
    if isinstance(column.type, Numeric):
        return Numeric
    return column.type


def stored(rows: TableValuedAlias, columns: dict[str, Column]) -> list[ColumnElement]:
    """The unnest's columns as values of the columns they fill: JSON cast from its text."""
    return [cast(rows.c[name], JSONB) if isinstance(c.type, JSON) else rows.c[name] for name, c in columns.items()]
