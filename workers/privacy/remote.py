"""The erasure in SendGrid, integration by integration: forward a pending withdrawal to the unsubscribe group,
wait for imports that still carry the person, find the contact by email, delete it, follow the deletion job,
then search again (an import that landed late is deleted too) until SendGrid finds nothing.

Each pass goes as far as SendGrid lets it and records where each integration stands in `erasures.sendgrid`;
a 429, a 5xx, no answer or a refused key end the pass with the delay until the next (`signal.run_erasure` is
retried with it). Past the retry window (SIGNAL_RETRY_WINDOW_HOURS) of such answers the erasure is `failed`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from config.settings import ConfigError, Settings
from models import AttemptKind, Erasure, ErasureStatus, Integration
from models.base import utcnow
from workers.privacy.erasure import erase_locally, pending, remains
from workers.sendgrid.client import SendGridClient
from workers.sendgrid.contacts import Unanswered, delete_contacts, find_contact_ids, job_status, record

ClientFor = Callable[[Integration], SendGridClient]
log = logging.getLogger(__name__)
MAX_ROUNDS = 5  # deletions of one integration before giving up (a contact that keeps coming back)
POLL_SECONDS = 1.0  # a deletion or import job still pending: look again after this


class Wait(Exception):
    def __init__(self, seconds: float, problem: str | None = None) -> None:
        super().__init__(problem or "waiting")
        self.seconds, self.problem = seconds, problem


def run_erasure(sessions: sessionmaker[Session], erasure_id: int, client_for: ClientFor, settings: Settings):
    """One pass: the local step if not done, then SendGrid. Returns None when there is nothing left to do, else
    the seconds until the next pass."""
    erase_locally(sessions, erasure_id, settings)
    with sessions.begin() as session:
        erasure = session.get(Erasure, erasure_id, with_for_update={"skip_locked": True})
        if erasure is None or erasure.status != ErasureStatus.LOCAL_DONE:
            return None  # finished, unknown, or another worker holds it now
        emails = pending(erasure, settings).get("emails", [])
        erasure.attempts += 1
        delays = []
        for key, state in sorted((erasure.sendgrid or {}).items()):
            if state["step"] == "done":
                continue
            try:
                advance(session, session.get(Integration, int(key)), state, emails, client_for)
            except Wait as wait:
                delays.append(wait.seconds)
                if wait.problem:
                    state["error"] = wait.problem
        if not delays:
            for key, jobs in remains(session, erasure, settings).items():  # rows that came after the local step
                erasure.sendgrid[str(key)].update(step="wait", wait_jobs=jobs)
                delays.append(POLL_SECONDS)
        flag_modified(erasure, "sendgrid")
        if not delays:
            return finish(erasure)
        problems = [s["error"] for s in erasure.sendgrid.values() if s.get("error") and s["step"] != "done"]
        erasure.error = "; ".join(problems)[:2000] or None
        if problems and utcnow() - erasure.requested_at > settings.retry_window:
            # Given up; the token goes too: `forget` again for the same person once the cause is fixed.
            erasure.status, erasure.finished_at, erasure.pending_secret = ErasureStatus.FAILED, utcnow(), None
            return None
        delay = min(delays)
        erasure.next_attempt_at = utcnow() + timedelta(seconds=delay)
        return delay


SUCCEEDED = ("deleted", "not found", "integration removed")


def finish(erasure: Erasure) -> None:
    """`completed` when SendGrid deleted the contact everywhere (or never had it); else `failed` with why."""
    erasure.finished_at, erasure.pending_secret, erasure.next_attempt_at = utcnow(), None, None
    problems = [
        f"integration {key}: {state.get('outcome')}"
        for key, state in sorted(erasure.sendgrid.items())
        if state.get("outcome") not in SUCCEEDED
    ]
    erasure.status = ErasureStatus.FAILED if problems else ErasureStatus.COMPLETED
    erasure.error = "; ".join(problems)[:2000] or None
    return None


def advance(session: Session, integration: Integration | None, state: dict, emails: list[str], client_for) -> None:
    """Take one integration as far as SendGrid answers now; raises Wait when it must wait."""
    if integration is None:
        state.update(step="done", outcome="integration removed")
        return
    try:
        client = client_for(integration)
    except ConfigError as e:
        raise Wait(60.0, f"integration {integration.id}: {e}") from e
    try:
        while state["step"] != "done":
            step(session, integration, client, state, emails)
    except Unanswered as e:
        if e.answer.status == 400:  # SendGrid refuses the request itself: asking again changes nothing
            state.update(step="done", outcome=f"refused by SendGrid: {e.answer.message}"[:500])
            return
        raise Wait(_delay(e.answer, state), f"integration {integration.id}: {e.answer.message}") from e
    state.pop("error", None)


def step(session: Session, integration: Integration, client: SendGridClient, state: dict, emails: list[str]) -> None:
    if state["step"] == "suppress":
        group = integration.unsubscribe_group_id
        if group is not None and emails:
            answer = client.suppress(group, emails)
            record(session, integration.id, AttemptKind.SUPPRESSION, answer, emails)
            if not answer.ok:
                raise Unanswered(answer)
        state["step"] = "wait" if state["wait_jobs"] else "search"
    elif state["step"] == "wait":  # imports that carry the person: search only once they finished
        for job in list(state["wait_jobs"]):
            if job_status(session, integration.id, client, job)[0] == "pending":
                raise Wait(POLL_SECONDS)
            state["wait_jobs"].remove(job)
        state["step"] = "search"
    elif state["step"] == "search":
        ids = find_contact_ids(session, integration.id, client, emails) if emails else []
        if not ids:
            state.update(step="done", outcome="deleted" if state["found"] else "not found")
            return
        if state["rounds"] >= MAX_ROUNDS:
            state.update(step="done", outcome=f"still found after {MAX_ROUNDS} deletions")
            return
        state["polling"] = delete_contacts(session, integration.id, client, ids)
        state["job_ids"] += state["polling"]
        state.update(step="poll", found=state["found"] + len(ids), rounds=state["rounds"] + 1)
    elif state["step"] == "poll":
        for job in list(state["polling"]):
            status, results = job_status(session, integration.id, client, job)
            if status == "pending":
                raise Wait(POLL_SECONDS)
            state["deleted"] += int(results.get("deleted_count") or 0)
            state["polling"].remove(job)
            if status != "completed":  # errored or failed: the search below finds the contact and deletes it again
                state["failed_jobs"] = state.get("failed_jobs", 0) + 1
        state["step"] = "search"  # again: what SendGrid still finds (a late import) is deleted too


def _delay(answer, state: dict) -> float:
    if answer.status == 429 and answer.ratelimit.reset_at is not None:
        return max(0.5, (answer.ratelimit.reset_at - datetime.now(UTC)).total_seconds())
    tries = state["failures"] = state.get("failures", 0) + 1
    if answer.status in (401, 403):
        return 60.0
    return random.uniform(0.5, min(300.0, 0.5 * 2.0**tries))  # full jitter, capped


def drive_erasure(
    sessions: sessionmaker[Session], erasure_id: int, client_for: ClientFor, settings: Settings, timeout: float = 120.0
) -> ErasureStatus | None:
    """Run passes in this process until the erasure finished or `timeout` passed (the CLI, the embedded mode)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            delay = run_erasure(sessions, erasure_id, client_for, settings)
        except DBAPIError as e:  # a deadlock with a flush, the database restarting: the pass is tried again
            log.warning("erasure %s: pass failed (%s), trying again", erasure_id, type(e.orig or e).__name__)
            delay = 1.0
        if delay is None or time.monotonic() + delay > deadline:
            break
        time.sleep(delay)
    with sessions() as session:
        erasure = session.get(Erasure, erasure_id)
        return erasure.status if erasure else None
