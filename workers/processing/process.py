"""Turn stored events into deliveries: map, resolve identity, keep field clocks, count orders once.

`process_events` is what the Celery task `signal.process_events` runs; tests call it directly. It works a batch
at a time: a fixed number of round trips per batch (events, identities, orders, contacts, then bulk writes),
whatever the batch size; the per-event work is dictionary transforms in memory.

Locks are taken in one order (the visitor keys in `identities`, orders, contacts, each sorted by key), so two
batches running at once wait for each other instead of deadlocking.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Row, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from mapping import MappedEvent, MappingConfig, Status
from models import Delivery, DeliveryStatus, Event, EventStatus, Identity, delivery_rows
from models.base import has_status, utcnow
from models.db import among
from workers.privacy.guard import drop_erased, erased_events, hold_shared
from workers.processing import store
from workers.processing.batch import DEFAULT_CONFIG, Batch, Item, visitor_keys
from workers.processing.decide import decide_all
from workers.processing.poison import (
    DETERMINISTIC,
    DETERMINISTIC_ALONE,
    MAX_PROCESS_ATTEMPTS,
    claim_attempt,
    reject,
    reject_unreadable,
    why,
)

log = logging.getLogger(__name__)


def process_events(sessions: sessionmaker[Session], event_ids: list[int], fresh: bool = False) -> set[int]:
    """Map the given received events into deliveries; returns the integrations that got queued work.

    Each step is a transaction of its own, taken from `sessions`: the attempt is counted and committed before
    the work starts, so a worker killed mid-batch still leaves the count behind, and an event whose processing
    keeps failing is set aside after MAX_PROCESS_ATTEMPTS. A batch whose events were tried before and did not
    finish (its worker crashed, was killed, or the batch write failed) is taken apart: one event per
    transaction, each counting its own attempt, so only the culprit keeps failing.

    `fresh` says the events were just stored and this is their first try (ingest's trigger, delivered for the
    first time): that try is not counted, which saves a committed write of every event. Should it die, its
    trigger comes back redelivered (or the sweep finds the events), and every later try is counted, so a
    poison event is still set aside, after one more try than MAX_PROCESS_ATTEMPTS.
    """
    if not event_ids:
        return set()
    ids: list[int] = []
    try:
        with sessions.begin() as session:
            tried = session.execute(
                select(Event.id, Event.process_attempts).where(
                    among(Event.id, event_ids), Event.status == EventStatus.RECEIVED
                )
            ).all()
            ids = sorted(i for i, _ in tried)
            retried = any(attempts > 0 for _, attempts in tried)
            if fresh and not retried:
                return process_claimed(session, ids)
        if retried and len(ids) > 1:
            return process_one_by_one(sessions, ids)
        with sessions.begin() as session:
            claimed = claim_attempt(session, ids)
        with sessions.begin() as session:
            return process_claimed(session, claimed)
    except DETERMINISTIC_ALONE as e:  # one event's data broke the batch (its write): find it now, not in 30 s
        if not ids:
            raise
        if len(ids) == 1:
            with sessions.begin() as session:
                reject(session, ids[0], e)
            return set()
        log.warning("a batch of %s events failed on an event's data (%s); processing them one by one", len(ids), why(e))
        return process_one_by_one(sessions, ids)


def process_one_by_one(sessions: sessionmaker[Session], event_ids: list[int]) -> set[int]:
    touched: set[int] = set()
    for event_id in event_ids:
        try:
            with sessions.begin() as session:
                claimed = claim_attempt(session, [event_id])
            with sessions.begin() as session:
                touched |= process_claimed(session, claimed)
        except DETERMINISTIC_ALONE as e:  # its own data: the next try would fail the same way
            with sessions.begin() as session:
                reject(session, event_id, e)
        except Exception:  # its attempt is counted: after MAX_PROCESS_ATTEMPTS it is set aside
            log.exception("processing event %s alone failed", event_id)
    return touched


def process_claimed(session: Session, ids: list[int]) -> set[int]:
    """Process events whose attempt was just counted."""
    hold_shared(session)  # an erasure and this batch never interleave (workers/privacy/guard.py)
    try:
        events = load_events(session, ids)
    except DETERMINISTIC:  # a stored payload the driver cannot load: that event is rejected, the rest go on
        unreadable = reject_unreadable(session, ids)
        events = load_events(session, [i for i in ids if i not in unreadable])
    if not events:
        return set()
    batch = Batch(session)
    checked = {e.id: batch.map(e.payload, DEFAULT_CONFIG, e.received_at) for e in events}
    if dropped := erased_events(session, events, checked):  # an erased person's events from before the erasure
        drop_erased(session, [e for e in events if e.id in dropped], checked, batch.integrations)
        events = [e for e in events if e.id not in dropped]
        checked = {i: m for i, m in checked.items() if i not in dropped}
    batch.load_links({k for m in checked.values() for k in visitor_keys(m.user_id, m.anonymous_id)})
    batch.lock_identities(checked.values())

    items: list[Item] = []
    outcomes: dict[int, tuple[EventStatus, str | None]] = {}
    for event in events:
        try:
            items.extend(plan_event(batch, event, checked[event.id], outcomes))
        except Exception as e:  # one bad event never stops the batch
            outcomes.pop(event.id, None)
            items = [i for i in items if i.event_id != event.id]
            if isinstance(e, DETERMINISTIC):  # its data: rejected at once, the reason on one line
                outcomes[event.id] = (EventStatus.REJECTED, f"processing this event fails: {why(e)}")
                log.warning("event %s rejected: %s", event.id, outcomes[event.id][1])
                continue
            log.exception("processing event %s crashed (attempt %s)", event.id, event.process_attempts)
            if event.process_attempts >= MAX_PROCESS_ATTEMPTS:  # its attempt count sets it aside
                reason = f"processing crashed {event.process_attempts} times: {type(e).__name__}: {e}"[:2000]
                outcomes[event.id] = (EventStatus.FAILED, reason)
    for item in items:  # a visitor identified later in this same batch is no longer held
        if item.email is None and item.mapped.status == Status.MAPPED:
            item.email = batch.resolve_email(item.mapped.user_id, item.mapped.anonymous_id)
    items.extend(held_to_release(batch, batch.new_links))
    decide_all(batch, items)
    write(batch, items, outcomes)
    record_clamps(batch, {i: m.clock_clamped_from for i, m in checked.items() if i in outcomes})
    return batch.touched


def record_clamps(batch: Batch, claimed: dict[int, datetime | None]) -> None:
    """Keep the timestamp of each event dated too far after its arrival (its clocks used the arrival)."""
    rows = [{"id": i, "clock_clamped_from": at} for i, at in sorted(claimed.items()) if at is not None]
    if not rows:
        return
    batch.session.execute(update(Event), rows)
    hours = batch.max_clock_skew / timedelta(hours=1)
    log.warning(
        "%s event(s) dated more than %g h after their arrival (ids %s): their arrival time is used",
        len(rows), hours, ", ".join(str(r["id"]) for r in rows[:10]) + (", ..." if len(rows) > 10 else ""),
    )  # fmt: skip


def load_events(session: Session, ids: list[int]) -> list[Row]:
    """The received events among `ids`, locked (those another batch holds are skipped)."""
    # Rows, not ORM objects: processing reads these five columns and writes events back in bulk.
    query = (
        select(Event.id, Event.message_id, Event.payload, Event.received_at, Event.process_attempts)
        .where(among(Event.id, ids), Event.status == EventStatus.RECEIVED)
        .order_by(Event.id)
    )
    return session.execute(query.with_for_update(skip_locked=True)).all()


def plan_event(
    batch: Batch, event: Row, checked: MappedEvent, outcomes: dict[int, tuple[EventStatus, str | None]]
) -> list[Item]:
    if checked.status == Status.REJECTED:
        outcomes[event.id] = (EventStatus.REJECTED, checked.reason)
        return []
    if checked.kind == "identify" and checked.email and checked.consent is not False:
        batch.link(checked)
    items = []
    for integration in batch.integrations:
        config = batch.configs[integration.id]
        if isinstance(config, str):
            items.append(Item(integration, checked, event.id, row={"status": DeliveryStatus.FAILED, "reason": config}))
            continue
        mapped = checked if config == DEFAULT_CONFIG else batch.map(event.payload, config, event.received_at)
        email = mapped.email or batch.resolve_email(mapped.user_id, mapped.anonymous_id)
        items.append(Item(integration, mapped, event.id, email))
    outcomes[event.id] = (EventStatus.PROCESSED, checked.recorded_notes)  # what was refused or cut, if anything
    return items


def held_to_release(batch: Batch, keys: set[tuple[str, str]]) -> list[Item]:
    """Deliveries held in earlier batches for these visitor keys (the ones this batch linked), mapped again."""
    users = sorted(v for k, v in keys if k == "user")
    anonymous = sorted(v for k, v in keys if k == "anonymous")
    if not users and not anonymous:
        return []
    # Plain IN lists here, not arrays: with the values in sight the planner probes the partial indexes on held
    # deliveries even before the table has statistics; with an array it scanned every held delivery.
    keys = []
    if users:
        keys.append(Delivery.user_id.in_(users))
    if anonymous:
        keys.append(Delivery.anonymous_id.in_(anonymous))
    columns = (Delivery.id, Delivery.integration_id, Delivery.user_id, Delivery.anonymous_id, Delivery.event_id)
    rows = batch.session.execute(
        select(*columns, Event.payload, Event.received_at)
        .join(Event, Event.id == Delivery.event_id)
        .where(has_status(Delivery.status, DeliveryStatus.HELD), or_(*keys))
        .order_by(Delivery.id)
        .with_for_update(of=Delivery, skip_locked=True)
    ).all()
    by_id = {i.id: i for i in batch.integrations}
    batch.load_links({k for r in rows for k in visitor_keys(r.user_id, r.anonymous_id)})
    items = []
    for row in rows:
        integration, config = by_id.get(row.integration_id), batch.configs.get(row.integration_id)
        if integration is None or not isinstance(config, MappingConfig):
            continue
        mapped = batch.map(row.payload, config, row.received_at)
        email = batch.resolve_email(mapped.user_id, mapped.anonymous_id)
        items.append(Item(integration, mapped, row.event_id, email, held_id=row.id))
    return items


def release_linked_held(session: Session, older_than: timedelta, limit: int = 10_000) -> tuple[int, set[int]]:
    """The sweep's backstop for the identity locks: held deliveries older than `older_than` whose visitor is
    linked to an email now, released like an identify releases them. With the locks there are none (a held
    delivery and the link that releases it cannot miss each other); returns (released, integrations touched)."""
    hold_shared(session)
    before = utcnow() - older_than
    keys: set[tuple[str, str]] = set()
    for kind, column in (("user", Delivery.user_id), ("anonymous", Delivery.anonymous_id)):
        keys.update(
            (kind, value)
            for value in session.scalars(
                select(column)
                .join(Identity, (Identity.kind == kind) & (Identity.value == column))
                .where(
                    has_status(Delivery.status, DeliveryStatus.HELD),
                    Delivery.created_at < before,
                    Identity.email.is_not(None),
                )
                .distinct()
                .limit(limit)
            )
        )
    if not keys:
        return 0, set()
    batch = Batch(session)
    batch.lock_keys(keys)
    items = held_to_release(batch, keys)
    decide_all(batch, items)
    write(batch, items, {})
    return len(items), batch.touched


def write(batch: Batch, items: list[Item], outcomes: dict[int, tuple[EventStatus, str | None]]) -> None:
    """Everything the batch decided, in a handful of statements."""
    session, now = batch.session, utcnow()
    new_rows, held_updates = [], []
    for item in items:
        values = {"email": item.email, "patch": item.row.get("patch"), "status": item.row["status"],
                  "reason": item.row.get("reason"), "updated_at": now}  # fmt: skip
        if item.held_id is not None:
            held_updates.append({"id": item.held_id, **values})
            continue
        new_rows.append({
            "integration_id": item.integration.id, "event_id": item.event_id, "kind": item.mapped.kind,
            "user_id": item.mapped.user_id, "anonymous_id": item.mapped.anonymous_id,
            "event_at": item.mapped.timestamp, "attempts": 0, "replay_count": 0, "created_at": now, **values,
        })  # fmt: skip
    delivery_rows.insert_deliveries(session, new_rows)
    store.update_deliveries(session, held_updates)
    if batch.new_links:
        upsert_links(batch)
    processed = sorted(i for i, (status, notes) in outcomes.items() if status == EventStatus.PROCESSED and not notes)
    if processed:
        session.execute(
            update(Event.__table__).where(among(Event.id, processed)).values(status="processed", processed_at=now)
        )
    others = [{"id": i, "status": s, "reason": r, "processed_at": now} for i, (s, r) in outcomes.items()
              if s != EventStatus.PROCESSED or r]  # fmt: skip
    if others:
        session.execute(update(Event), others)
    batch.save_contacts()


def upsert_links(batch: Batch) -> None:
    rows = [(k, v, *batch.links[(k, v)]) for k, v in sorted(batch.new_links)]
    store.upsert_identities(batch.session, rows)
