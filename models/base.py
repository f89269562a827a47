"""The typed declarative base, shared column types and enums stored by value."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import BigInteger, DateTime, MetaData, bindparam
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.sql.elements import ColumnElement

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(DateTime):
    """Every timestamp is `timestamptz`: psycopg reads them back timezone-aware."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)


pk = Annotated[int, mapped_column(BigInteger, primary_key=True, autoincrement=True)]
created = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow, nullable=False)]
json = Annotated[Any, mapped_column(JSONB)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONB()}


def enum_values(enum_cls: type[enum.Enum]) -> list[str]:
    return [member.value for member in enum_cls]


def has_status(column, value: enum.Enum) -> ColumnElement[bool]:
    """`status = 'value'` with the value written into the SQL rather than bound. psycopg prepares a statement
    run five times, and a prepared (generic) plan can use an index `WHERE status = '...'` only if it can see
    the value; the partial indexes on one status depend on this."""
    return column == bindparam(None, value, type_=column.type, literal_execute=True)
