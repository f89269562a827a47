"""Deletion jobs: ``DELETE /v3/marketing/contacts?ids=...`` is asynchronous like an upsert; the job is read at
the same status endpoint (``GET /v3/marketing/contacts/imports/{id}``) with ``job_type`` ``delete``.

SendGrid documents the job id and the shared status endpoint; what an unknown id does is unconfirmed: the sandbox
counts it in ``requested_count`` and deletes nothing for it (the job still completes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sandbox.contacts import ContactStore
from sandbox.fields import FieldRegistry
from sandbox.jobs import utc_now_iso

MAX_DELETE_IDS = 100  # per request; SendGrid publishes no number (unconfirmed), so the client sends at most 100


@dataclass
class DeletionJob:
    contact_ids: list[str]
    due: float
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    job_type: str = "delete"
    status: str = "pending"
    started_at: str = field(default_factory=utc_now_iso)
    finished_at: str | None = None
    deleted: int = 0
    errors: list[dict] = field(default_factory=list)

    def apply(self, store: ContactStore, _fields: FieldRegistry) -> None:
        self.deleted = sum(1 for contact_id in self.contact_ids if store.delete(contact_id))
        self.status = "completed"
        self.finished_at = utc_now_iso()

    def status_body(self) -> dict:
        results = {"requested_count": len(self.contact_ids), "deleted_count": self.deleted}
        body: dict[str, object] = {
            "id": self.id,
            "status": self.status,
            "job_type": self.job_type,
            "results": {k: v for k, v in results.items() if v},
            "started_at": self.started_at,
        }
        if self.finished_at:
            body["finished_at"] = self.finished_at
        return body
