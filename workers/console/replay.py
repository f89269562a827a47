"""Replay (`/replay`): the Live Events filters, a dry run that counts the deliveries they match, then a confirmed
POST that re-queues them through workers.services.deliveries (the code the API and the CLI run: its from/to are a
delivery's last change, as theirs); and the *replay* button of one failed delivery (`POST /replay/delivery/<id>`),
on Live Events rows and on the event's page."""

from __future__ import annotations

from flask import flash, redirect, render_template, request

from workers.console.auth import safe_next
from workers.console.blueprint import console
from workers.console.live_events import filter_args, filter_from
from workers.services import deliveries
from workers.services.deliveries import ReplayResult
from workers.services.timeline import FilterError, integration_names
from workers.services.vocabulary import EVENT_TYPES, REPLAYABLE
from workers.web_state import transaction


def page(args, result: ReplayResult | None = None, status: int = 200):  # noqa: ANN001 - request.args or .form
    filters = filter_args(args)
    filters.setdefault("status", "failed")
    context = {"filters": filters, "statuses": REPLAYABLE, "types": EVENT_TYPES, "result": result, "error": None}
    with transaction() as session:
        context["integrations"] = integration_names(session)
        try:
            flt, _ = filter_from(filters)
            context["matched"] = deliveries.count(session, deliveries.from_timeline(session, flt))
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
            result = deliveries.replay_by_filter(session, deliveries.from_timeline(session, flt))
    except FilterError as e:
        flash(str(e), "error")
        return page(request.form, status=400)
    return page(request.form, result)


@console.post("/replay/delivery/<int:delivery_id>")
def replay_delivery(delivery_id: int):
    """Re-queue one delivery (a Live Events row's or an event page's *Replay* button)."""
    with transaction() as session:
        done = deliveries.replay_delivery(session, delivery_id)
    if not done.found:
        flash(f"Delivery #{delivery_id} does not exist (deleted with its integration?).", "error")
    elif done.result is None:
        flash(f"Delivery #{delivery_id} is {done.status}: only {', '.join(REPLAYABLE)} ones are replayed.", "warning")
    else:
        flash(describe(done.result, f"Delivery #{delivery_id} of {done.message_id}"), "notice")
    return redirect(safe_next(request.form.get("next")), code=303)


def describe(result: ReplayResult, what: str) -> str:
    if result.requeued:
        return f"{what}: re-queued; the next flush sends the contact's current state."
    reasons = "; ".join(result.not_requeued) or "it no longer matched"
    return f"{what}: not re-queued ({reasons})."
