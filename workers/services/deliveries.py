"""Replay by filter: the one code path behind `POST /v1/admin/deliveries/replay`, the console's Replay page and
its per-row button, and `signal-sendgrid replay`.

Every interface filters on a delivery's last change (`since`/`until` on `updated_at`), so the same filter
re-queues the same deliveries wherever it is given. The work is the replay stage's
(`workers.processing.replay`); this adds the dry run's count, the Live Events filter as replay reads it, and the
flush of each integration concerned once the caller's transaction commits (never after a rollback).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Delivery, Event
from workers.processing.replay import ReplayFilter, ReplayResult, count_matching, replay_deliveries
from workers.services import triggers
from workers.services.timeline import FilterError, TimelineFilter
from workers.services.vocabulary import REPLAYABLE

__all__ = ["DeliveryReplay", "ReplayFilter", "ReplayResult", "from_timeline", "replay_by_filter", "replay_delivery"]


def replay_by_filter(session: Session, flt: ReplayFilter, remap: bool = False, dry_run: bool = False) -> ReplayResult:
    """Re-queue the deliveries `flt` matches (optionally mapping their events again) and flush their
    integrations after commit. A dry run counts them only: no lock taken, nothing changed, nothing sent."""
    if dry_run:
        return ReplayResult(matched=count(session, flt))
    result = replay_deliveries(session, flt, remap=remap)
    triggers.flush(session, result.integrations)
    return result


def count(session: Session, flt: ReplayFilter) -> int:
    """How many deliveries a replay with this filter would take."""
    return count_matching(session, flt)


def from_timeline(session: Session, flt: TimelineFilter) -> ReplayFilter:
    """Live Events' filter as replay reads it: its times are the last change, like the API's and the CLI's; `q` is
    a message id when an event has it, else an email prefix. FilterError for a status replay cannot take."""
    if flt.status and flt.status not in REPLAYABLE:
        raise FilterError(f"only {', '.join(REPLAYABLE)} deliveries can be replayed, not {flt.status}")
    replayed = ReplayFilter(
        status=flt.status or "failed",
        since=flt.since,
        until=flt.until,
        integration_id=flt.integration_id,
        event_type=flt.kind,
    )
    if flt.q:
        if session.scalar(select(Event.id).where(Event.message_id == flt.q)) is not None:
            replayed.message_ids = [flt.q]
        else:
            replayed.email_prefix = flt.q.lower()
    return replayed


@dataclass(frozen=True)
class DeliveryReplay:
    """What replaying one delivery did: `found` False when there is no such delivery; `result` None when its
    status is not one replay takes."""

    found: bool
    status: str | None = None
    message_id: str | None = None
    result: ReplayResult | None = None


def replay_delivery(session: Session, delivery_id: int) -> DeliveryReplay:
    """Re-queue one delivery (a Live Events row's or an event page's Replay button), flushing after commit."""
    found = session.execute(
        select(Delivery.status, Delivery.integration_id, Event.message_id)
        .join(Event, Event.id == Delivery.event_id)
        .where(Delivery.id == delivery_id)
    ).first()
    if found is None:
        return DeliveryReplay(found=False)
    status = found.status.value
    if found.status not in REPLAYABLE:
        return DeliveryReplay(True, status, found.message_id)
    flt = ReplayFilter(status=status, integration_id=found.integration_id, delivery_ids=[delivery_id])
    return DeliveryReplay(True, status, found.message_id, replay_by_filter(session, flt))
