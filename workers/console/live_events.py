"""Live Events (`/live-events`): deliveries and rejected events newest first, filtered, a page at a time by
cursor; the rows alone for the page's refresh (`/live-events/rows`); an event's detail (`/live-events/<id>`):
the raw event, what it changed per integration, every request that carried it and the import job's outcome."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import abort, render_template, request

from config.secrets import redact
from models import AttemptKind, Delivery, DeliveryAttempt, ImportJob, Integration
from workers.console.blueprint import console
from workers.services.events import DeliveryRecord, event_with_deliveries
from workers.services.timeline import Cursor, FilterError, TimelineFilter, integration_names, timeline
from workers.services.vocabulary import EVENT_TYPES, REPLAYABLE, TIMELINE_STATUSES, parse_time
from workers.web_state import transaction

FILTER_FIELDS = ("status", "type", "integration", "from", "to", "q")
IMPORT_OUTCOME = {"completed": "succeeded", "errored": "import_errored", "failed": "import_errored"}


def filter_from(args: Mapping[str, str]) -> tuple[TimelineFilter, Cursor | None]:
    """The query string's filters; FilterError names the one that cannot be used."""
    integration = (args.get("integration") or "").strip()
    if integration and not integration.isdigit():
        raise FilterError(f"integration must be an integration's id, not {integration[:40]!r}")
    times = {}
    for name in ("from", "to"):
        value = (args.get(name) or "").strip()
        try:
            times[name] = parse_time(value) if value else None
        except ValueError as e:
            raise FilterError(f"{name} must be a time such as 2026-12-01T09:30, not {value[:40]!r}") from e
    flt = TimelineFilter(
        status=(args.get("status") or "").strip() or None,
        type=(args.get("type") or "").strip() or None,
        integration_id=int(integration) if integration else None,
        since=times["from"],
        until=times["to"],
        q=(args.get("q") or "").strip()[:254] or None,
    )
    cursor = Cursor.decode(args["cursor"]) if args.get("cursor") else None
    return flt, cursor


def filter_args(args: Mapping[str, str]) -> dict[str, str]:
    """The filters as they were given (for links and forms), empty ones left out."""
    return {name: args[name] for name in FILTER_FIELDS if args.get(name)}


def render_page(template: str):
    filters = filter_args(request.args)
    try:
        flt, cursor = filter_from(request.args)
    except FilterError as e:
        with transaction() as session:
            names = integration_names(session)
        return render_template(template, page=None, error=str(e), filters=filters, integrations=names,
                               statuses=TIMELINE_STATUSES, types=EVENT_TYPES, first_page=True), 400  # fmt: skip
    with transaction() as session:
        page = timeline(session, flt, cursor)
        names = integration_names(session) if template.endswith("live_events.html") else []
    return render_template(template, page=page, error=None, filters=filters, integrations=names,
                           statuses=TIMELINE_STATUSES, types=EVENT_TYPES, first_page=cursor is None)  # fmt: skip


@console.get("/live-events")
def live_events():
    return render_page("console/live_events.html")


@console.get("/live-events/rows")
def live_events_rows():
    """The table's rows alone: what the page's refresh fetches every few seconds."""
    return render_page("console/live_events_rows.html")


@dataclass
class AttemptView:
    attempt: DeliveryAttempt
    request_line: str
    headers: dict[str, str]
    contact: dict | None  # this delivery's contact in the request, as decided
    response: dict


@dataclass
class DeliveryView:
    delivery: Delivery
    integration: Integration | None
    patch: str
    attempts: list[AttemptView] = field(default_factory=list)
    job: ImportJob | None = None
    job_outcome: str | None = None

    @property
    def replayable(self) -> bool:
        return self.delivery.status.value in REPLAYABLE

    @property
    def unrecorded_attempts(self) -> int:
        """Upserts counted but not listed: a delivery made before the history (attempt_ids) kept only its last."""
        upserts = sum(1 for a in self.attempts if a.attempt.kind == AttemptKind.UPSERT)
        return max(0, self.delivery.attempts - upserts)


def pretty(value: object) -> str:
    """JSON for a person, with anything shaped like a SendGrid key masked."""
    return redact(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str))


def attempt_view(attempt: DeliveryAttempt, integration: Integration | None, delivery: Delivery) -> AttemptView:
    base = integration.api_url if integration else ""
    headers = {"Authorization": f"Bearer {integration.api_key_hint if integration else '…'} (redacted)"}
    contact = None
    if attempt.kind == AttemptKind.UPSERT:
        headers["Content-Type"] = "application/json"
        contact = {"email": delivery.email, **(delivery.patch or {})}
    response: dict = {"status": attempt.status_code if attempt.status_code is not None else "no answer"}
    if attempt.job_id:
        response["body"] = {"job_id": attempt.job_id}
    if attempt.error:
        response["error"] = redact(attempt.error)
    limits = (attempt.ratelimit_limit, attempt.ratelimit_remaining, attempt.ratelimit_reset)
    if any(v is not None for v in limits):
        response["X-RateLimit"] = dict(zip(("limit", "remaining", "reset"), limits, strict=True))
    return AttemptView(attempt, f"{attempt.method} {base}{attempt.path}", headers, contact, response)


def delivery_view(record: DeliveryRecord) -> DeliveryView:
    delivery, integration = record.delivery, record.integration
    view = DeliveryView(delivery, integration, pretty(delivery.patch) if delivery.patch is not None else "")
    view.job = record.job
    if view.job is not None:
        view.job_outcome = IMPORT_OUTCOME.get(view.job.status.value, view.job.status.value)
    view.attempts = [attempt_view(a, integration, delivery) for a in record.attempts]
    return view


@console.get("/live-events/<int:event_id>")
def event_detail(event_id: int):
    with transaction() as session:
        found = event_with_deliveries(session, event_id)
        if found is None:
            abort(404)
        event, records = found
        raw = pretty(event.payload) if event.payload is not None else redact(event.raw_body or "")
        views = [delivery_view(record) for record in records]
        return render_template("console/event_detail.html", event=event, raw=raw, deliveries=views)
