"""Replay (`/replay`): the Live Events filters, a dry run that counts the deliveries they match, then a confirmed
POST that re-queues them through workers.processing.replay (the code the API and the CLI run); and the *replay*
button of one failed delivery (`POST /replay/delivery/<id>`), on Live Events rows and on the event's page."""

from __future__ import annotations

from flask import flash, redirect, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Delivery, Event
from workers.admin.blueprint import transaction
from workers.admin.timeline import REPLAYABLE, TYPES, FilterError, TimelineFilter
from workers.console.auth import safe_next
from workers.console.blueprint import console
from workers.console.live_events import filter_args, filter_from, integration_names
from workers.processing.replay import ReplayFilter, ReplayResult, count_matching, replay_deliveries


def replay_filter(session: Session, flt: TimelineFilter) -> ReplayFilter:
    """Live Events' filter as replay takes it; `q` is a message id when an event has it, else an email prefix."""
    if flt.status and flt.status not in REPLAYABLE:
        raise FilterError(f"only {', '.join(REPLAYABLE)} deliveries can be replayed, not {flt.status}")
    replay = ReplayFilter(
        status=flt.status or "failed",
        integration_id=flt.integration_id,
        event_type=flt.kind,
        created_since=flt.since,
        created_until=flt.until,
    )
    if flt.q:
        if session.scalar(select(Event.id).where(Event.message_id == flt.q)) is not None:
            replay.message_ids = [flt.q]
        else:
            replay.email_prefix = flt.q.lower()
    return replay


def run_replay(session: Session, flt: ReplayFilter) -> ReplayResult:
    from workers.tasks import after_commit, trigger_flush

    result = replay_deliveries(session, flt)
    after_commit(session, lambda: trigger_flush(result.integrations))
    return result


def page(args, result: ReplayResult | None = None, status: int = 200):  # noqa: ANN001 - request.args or .form
    filters = filter_args(args)
    filters.setdefault("status", "failed")
    context = {"filters": filters, "statuses": REPLAYABLE, "types": TYPES, "result": result, "error": None}
    with transaction() as session:
        context["integrations"] = integration_names(session)
        try:
            flt, _ = filter_from(filters)
            context["matched"] = count_matching(session, replay_filter(session, flt))
        except FilterError as e:
            context["error"], context["matched"], status = str(e), None, 400
    return render_template("console/replay.html", **context), status


@console.get("/replay")
def replay():
    """The dry run: how many deliveries these filters would re-queue, and the button that does it."""
    return page(request.args)


@console.post("/replay")
def replay_confirmed():
    try:
        flt, _ = filter_from(request.form)
        with transaction() as session:
            result = run_replay(session, replay_filter(session, flt))
    except FilterError as e:
        flash(str(e), "error")
        return page(request.form, status=400)
    return page(request.form, result)


@console.post("/replay/delivery/<int:delivery_id>")
def replay_delivery(delivery_id: int):
    """Re-queue one delivery (a Live Events row's or an event page's *Replay* button)."""
    with transaction() as session:
        found = session.execute(
            select(Delivery.status, Delivery.integration_id, Event.message_id)
            .join(Event, Event.id == Delivery.event_id)
            .where(Delivery.id == delivery_id)
        ).first()
        if found is None:
            flash(f"Delivery #{delivery_id} does not exist (deleted with its integration?).", "error")
        elif found.status.value not in REPLAYABLE:
            flash(f"Delivery #{delivery_id} is {found.status.value}: only {', '.join(REPLAYABLE)} ones are replayed.",
                  "warning")  # fmt: skip
        else:
            flt = ReplayFilter(
                status=found.status.value, integration_id=found.integration_id, delivery_ids=[delivery_id]
            )
            result = run_replay(session, flt)
            flash(describe(result, f"Delivery #{delivery_id} of {found.message_id}"), "notice")
    return redirect(safe_next(request.form.get("next")), code=303)


def describe(result: ReplayResult, what: str) -> str:
    if result.requeued:
        return f"{what}: re-queued; the next flush sends the contact's current state."
    reasons = "; ".join(result.not_requeued) or "it no longer matched"
    return f"{what}: not re-queued ({reasons})."
