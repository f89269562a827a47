"""The Live Events query: deliveries and rejected events, newest first, filtered, a page at a time by keyset.

The one code path behind the console's Live Events, `GET /v1/admin/deliveries` and `signal-sendgrid deliveries`.

A row is a delivery (one per event and integration) or an event rejected at processing (no delivery: the
reason says why). Both are ordered by the time they were decided (a delivery's `created_at`, a rejected
event's `processed_at`), which never changes afterwards: a delivery moving from queued to succeeded keeps its
place, so a cursor taken from one page gives the next one without a duplicate or a gap while new rows arrive.

The cursor is the last row's (time, source, id): at equal times deliveries come before events, then higher ids
first. Each source is read with its own keyset condition and limit, on an index that leads with the filtered
column and ends with (time, id) (see models.delivery): first the keys alone (an index-only scan), merged here,
then the rows of the page's keys only. No sort of more keys than a page, whatever the filter. The API's `page`
is an offset on the same order: it reads `offset + limit` keys of each source (at most MAX_OFFSET).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Select, false, func, select, tuple_
from sqlalchemy.orm import Session

from mapping.rules import track_kind
from models import Delivery, DeliveryStatus, Event, EventStatus, Integration
from models.base import has_status
from models.db import among
from workers.services.vocabulary import REJECTED, REPLAYABLE, TIMELINE_STATUSES, parse_time

PAGE_SIZE = 50
MAX_OFFSET = 100_000  # rows skipped by an offset (the API's page); deeper pages go by cursor
_REJECTED_EVENTS = (EventStatus.REJECTED, EventStatus.FAILED)
_DELIVERY, _EVENT = 1, 0  # the source, second in the sort key: deliveries first at equal times


class FilterError(ValueError):
    """A filter value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class TimelineFilter:
    status: str | None = None
    type: str | None = None
    integration_id: int | None = None
    since: datetime | None = None  # decided at or after
    until: datetime | None = None  # decided before
    q: str | None = None  # a message id (exact), or an email (exact or prefix)

    def __post_init__(self) -> None:
        if self.status and self.status not in TIMELINE_STATUSES:
            raise FilterError(f"status must be one of {', '.join(TIMELINE_STATUSES)}, not {self.status!r}")

    @property
    def kind(self) -> str | None:
        """The event type as deliveries store it: 'Order Completed' -> order_completed."""
        if not self.type:
            return None
        return track_kind(self.type) or self.type.strip().lower()


@dataclass(frozen=True)
class Cursor:
    time: datetime
    source: int
    id: int

    def encode(self) -> str:
        return f"{self.time.astimezone(UTC).isoformat()}~{'de'[1 - self.source]}{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            when, _, rest = text.partition("~")
            source = {"d": _DELIVERY, "e": _EVENT}[rest[0]]
            return cls(parse_time(when), source, int(rest[1:]))
        except (KeyError, IndexError, ValueError) as e:
            raise FilterError(f"the cursor {text[:80]!r} is not one this page gave out") from e


@dataclass(frozen=True)
class TimelineRow:
    source: str  # "delivery" or "event"
    id: int  # the delivery's id, or the event's for a rejected event
    event_id: int
    time: datetime
    event_type: str | None  # the event's type (identify, page, track, ...)
    kind: str | None  # the delivery's kind: a track event's is order_completed, product_viewed or track
    event_name: str | None
    message_id: str
    email: str | None
    integration_id: int | None
    integration: str | None
    status: str
    status_code: int | None
    attempts: int
    error: str | None
    replays: int = 0
    job_id: str | None = None

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.time, _DELIVERY if self.source == "delivery" else _EVENT, self.id)

    @property
    def replayable(self) -> bool:
        return self.source == "delivery" and self.status in REPLAYABLE


@dataclass
class TimelinePage:
    rows: list[TimelineRow] = field(default_factory=list)
    next: Cursor | None = None


def timeline(
    session: Session, flt: TimelineFilter, cursor: Cursor | None = None, limit: int = PAGE_SIZE, offset: int = 0
) -> TimelinePage:
    """One page of Live Events, newest first, and the cursor of the next page (None on the last one). `offset`
    skips rows after the cursor (at most MAX_OFFSET)."""
    if not 0 <= offset <= MAX_OFFSET:
        raise FilterError(f"an offset goes at most {MAX_OFFSET} rows deep, not {offset}: page on by cursor")
    flt = resolve_search(session, flt)
    want = offset + limit + 1  # one more tells whether there is a next page
    keys: list[tuple[datetime, int, int]] = []
    if flt.status != REJECTED:
        keys += [(t, _DELIVERY, i) for i, t in session.execute(delivery_keys(flt, cursor, want))]
    if flt.status in (None, REJECTED) and flt.integration_id is None:
        keys += [(t, _EVENT, i) for i, t in session.execute(rejected_keys(flt, cursor, want))]
    keys.sort(reverse=True)
    chosen = keys[offset : offset + limit]
    rows = {}
    if ids := [i for _, source, i in chosen if source == _DELIVERY]:
        rows.update({(_DELIVERY, r.id): delivery_row(r) for r in session.execute(deliveries_query(ids))})
    if ids := [i for _, source, i in chosen if source == _EVENT]:
        rows.update({(_EVENT, r.id): event_row(r) for r in session.execute(rejected_query(ids))})
    page = TimelinePage([rows[source, i] for _, source, i in chosen if (source, i) in rows])
    if len(keys) > offset + limit and chosen:
        page.next = Cursor(*chosen[-1])
    return page


@dataclass(frozen=True)
class _Search(TimelineFilter):
    event_id: int | None = None  # q named this event's message id
    email_prefix: str | None = None


def resolve_search(session: Session, flt: TimelineFilter) -> TimelineFilter:
    """`q` is a message id when an event has it (the unique index answers), otherwise an email prefix."""
    q = (flt.q or "").strip()
    if not q:
        return _Search(**{**flt.__dict__, "q": None})
    event_id = session.scalar(select(Event.id).where(Event.message_id == q))
    if event_id is not None:
        return _Search(**{**flt.__dict__, "q": q}, event_id=event_id)
    return _Search(**{**flt.__dict__, "q": q}, email_prefix=q.lower())


def like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def delivery_keys(flt: _Search, cursor: Cursor | None, limit: int) -> Select:
    """The page's (id, time) from one index alone: an index-only scan, since the filtered columns are in every
    index Live Events uses (see models.delivery)."""
    d = Delivery
    ids = select(d.id, d.created_at).order_by(d.created_at.desc(), d.id.desc()).limit(limit)
    if flt.status:
        ids = ids.where(has_status(d.status, DeliveryStatus(flt.status)))
    if flt.kind:
        ids = ids.where(d.kind == flt.kind)
    if flt.integration_id is not None:
        ids = ids.where(d.integration_id == flt.integration_id)
    if flt.since:
        ids = ids.where(d.created_at >= flt.since)
    if flt.until:
        ids = ids.where(d.created_at < flt.until)
    if flt.event_id is not None:
        ids = ids.where(d.event_id == flt.event_id)
    elif flt.email_prefix:
        ids = ids.where(d.email.like(like_prefix(flt.email_prefix), escape="\\"))
        if flt.status == DeliveryStatus.HELD:  # held means its email is not known: a search finds none of them
            ids = ids.where(false())  # (the planner, guessing some, would read every held delivery to find none)
    if cursor is not None:
        ids = ids.where(
            tuple_(d.created_at, d.id) < tuple_(cursor.time, cursor.id)
            if cursor.source == _DELIVERY
            else d.created_at < cursor.time
        )
    return ids


def deliveries_query(ids: list[int]) -> Select:
    """The rows of the page's deliveries, with their events and integrations."""
    d = Delivery
    return (
        select(
            d.id,
            d.event_id,
            d.created_at,
            d.kind,
            d.email,
            d.integration_id,
            d.status,
            d.status_code,
            d.attempts,
            d.reason,
            d.replay_count,
            d.job_id,
            Event.message_id,
            Event.type,
            _event_name(),
            Integration.name,
        )  # fmt: skip
        .join(Event, Event.id == d.event_id)
        .join(Integration, Integration.id == d.integration_id)
        .where(among(d.id, ids))
    )


def rejected_keys(flt: _Search, cursor: Cursor | None, limit: int) -> Select:
    e = Event
    query = (
        select(e.id, e.processed_at)
        .where(e.status.in_(_REJECTED_EVENTS), e.processed_at.is_not(None))
        .order_by(e.processed_at.desc(), e.id.desc())
        .limit(limit)
    )
    if flt.type:
        kind = flt.kind
        query = query.where(e.type == kind if kind in ("identify", "page", "track") else false())
    if flt.since:
        query = query.where(e.processed_at >= flt.since)
    if flt.until:
        query = query.where(e.processed_at < flt.until)
    if flt.q:  # rejected events carry no email column: only their message id is searched
        query = query.where(e.id == flt.event_id if flt.event_id is not None else false())
    if cursor is not None:
        query = query.where(
            tuple_(e.processed_at, e.id) < tuple_(cursor.time, cursor.id)
            if cursor.source == _EVENT
            else e.processed_at <= cursor.time
        )
    return query


def rejected_query(ids: list[int]) -> Select:
    e = Event
    return select(e.id, e.processed_at, e.type, _event_name(), e.message_id, e.reason).where(among(e.id, ids))


def integration_names(session: Session) -> list[tuple[int, str]]:
    """(id, name) of every integration, in id order: the choices of the integration filter."""
    return [(i, name) for i, name in session.execute(select(Integration.id, Integration.name).order_by(Integration.id))]


def _event_name():
    """A track event's name, or a page's (payload `event` / `name`), as the producer wrote it."""
    return func.coalesce(Event.payload["event"].astext, Event.payload["name"].astext).label("event_name")


def delivery_row(r) -> TimelineRow:  # noqa: ANN001 - a result row
    return TimelineRow(
        source="delivery", id=r.id, event_id=r.event_id, time=r.created_at, event_type=r.type or r.kind,
        kind=r.kind, event_name=r.event_name if r.type in ("track", "page") else None,
        message_id=r.message_id, email=r.email, integration_id=r.integration_id, integration=r.name,
        status=DeliveryStatus(r.status).value, status_code=r.status_code, attempts=r.attempts, error=r.reason,
        replays=r.replay_count, job_id=r.job_id,
    )  # fmt: skip


def event_row(r) -> TimelineRow:  # noqa: ANN001 - a result row
    return TimelineRow(
        source="event", id=r.id, event_id=r.id, time=r.processed_at, event_type=r.type, kind=None,
        event_name=r.event_name if r.type in ("track", "page") else None,
        message_id=r.message_id, email=None, integration_id=None, integration=None, status=REJECTED,
        status_code=None, attempts=0, error=r.reason,
    )  # fmt: skip
