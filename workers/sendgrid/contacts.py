"""Finding and deleting SendGrid contacts (erasure): the search's and the deletion job's answers, read once here.

SendGrid deletes contacts only by its own contact ids, so a contact is first found by email
(`POST /v3/marketing/contacts/search/emails`, at most 100 emails a request: 200 with a result per email, 404 when
none matches), then deleted (`DELETE /v3/marketing/contacts?ids=...`, asynchronous: 202 with a job id), and the
job read at the import status endpoint (`job_type` `delete`, `results.deleted_count`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from models import AttemptKind
from workers.sendgrid.attempts import record_attempt
from workers.sendgrid.client import SendGridClient, SendGridResponse

SEARCH_LIMIT = 100  # emails per search request (SendGrid's documented maximum)
DELETE_LIMIT = 100  # contact ids per DELETE (no published maximum: kept at the search's)


class Unanswered(Exception):
    """SendGrid did not do it now (429, 5xx, no answer, 401/403): try again later. Carries the answer."""

    def __init__(self, answer: SendGridResponse) -> None:
        super().__init__(answer.message)
        self.answer = answer


def record(session: Session, integration_id: int, kind: AttemptKind, answer: SendGridResponse, hide: list[str]):
    """The attempt, with the searched emails taken out of its error text."""
    attempt = record_attempt(session, integration_id, kind, answer)
    if attempt.error:
        for value in hide:
            attempt.error = attempt.error.replace(value, "[erased]")
    return attempt


def find_contact_ids(session: Session, integration_id: int, client: SendGridClient, emails: list[str]) -> list[str]:
    """SendGrid's ids of the contacts with these emails (none found: an empty list)."""
    found: list[str] = []
    for start in range(0, len(emails), SEARCH_LIMIT):
        part = emails[start : start + SEARCH_LIMIT]
        answer = client.search_emails(part)
        record(session, integration_id, AttemptKind.CONTACT_SEARCH, answer, part)
        if answer.status == 404:
            continue
        if not answer.ok:
            raise Unanswered(answer)
        result = (answer.body or {}).get("result") if isinstance(answer.body, dict) else None
        for item in (result or {}).values():
            contact = item.get("contact") if isinstance(item, dict) else None
            if isinstance(contact, dict) and contact.get("id"):
                found.append(str(contact["id"]))
    return sorted(set(found))


def delete_contacts(session: Session, integration_id: int, client: SendGridClient, ids: list[str]) -> list[str]:
    """Ask SendGrid to delete these contacts; returns the deletion job ids."""
    jobs = []
    for start in range(0, len(ids), DELETE_LIMIT):
        answer = client.delete_contacts(ids[start : start + DELETE_LIMIT])
        record(session, integration_id, AttemptKind.CONTACT_DELETE, answer, [])
        if not answer.ok or not answer.job_id:
            raise Unanswered(answer)
        jobs.append(answer.job_id)
    return jobs


def job_status(session: Session, integration_id: int, client: SendGridClient, job_id: str) -> tuple[str, dict]:
    """(status, results) of a deletion or import job: pending, completed, errored or failed."""
    answer = client.import_status(job_id)
    record(session, integration_id, AttemptKind.DELETE_POLL, answer, [])
    if answer.status == 404:  # SendGrid no longer knows the job: nothing to wait for (the search tells)
        return "completed", {}
    if not answer.ok or not isinstance(answer.body, dict):
        raise Unanswered(answer)
    return str(answer.body.get("status") or "pending").lower(), answer.body.get("results") or {}
