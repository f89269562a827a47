"""Import jobs: an accepted upsert waits ``apply_delay`` seconds, then applies contact by contact."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandbox.contacts import ContactStore
from sandbox.fields import FieldRegistry


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Job:
    contacts: list[dict]
    list_ids: list[str]
    due: float  # time.monotonic() at which the job may be applied
    errors_url: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    job_type: str = "upsert_contacts"
    status: str = "pending"
    started_at: str = field(default_factory=utc_now_iso)
    finished_at: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)

    def apply(self, store: ContactStore, fields: FieldRegistry) -> None:
        counts = {"created": 0, "updated": 0, "errored": 0}
        now = utc_now_iso()
        for index, raw in enumerate(self.contacts):
            outcome = store.upsert(raw, self.list_ids, fields, now)
            counts[outcome.result] += 1
            if outcome.result == "errored":
                self.errors.append({"contact_index": index, "email": raw.get("email"), "message": outcome.message})
        self.counts = counts
        if counts["errored"] == 0:
            self.status = "completed"
        elif counts["errored"] < len(self.contacts):
            self.status = "errored"
        else:
            self.status = "failed"
        self.finished_at = utc_now_iso()

    def status_body(self) -> dict:
        """The body of ``GET /v3/marketing/contacts/imports/{id}``; zero counts are left out."""
        counts = {
            "requested_count": len(self.contacts),
            "created_count": self.counts.get("created", 0),
            "updated_count": self.counts.get("updated", 0),
            "errored_count": self.counts.get("errored", 0),
        }
        results: dict[str, object] = {name: n for name, n in counts.items() if n}
        if self.errors:
            results["errors_url"] = self.errors_url
        body: dict[str, object] = {
            "id": self.id,
            "status": self.status,
            "job_type": self.job_type,
            "results": results,
            "started_at": self.started_at,
        }
        if self.finished_at:
            body["finished_at"] = self.finished_at
        return body
