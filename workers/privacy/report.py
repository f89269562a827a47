"""What an erasure record says, in one shape for the CLI and the admin API (no personal data in it)."""

from __future__ import annotations

from models import Erasure


def erasure_summary(erasure: Erasure) -> dict:
    return {
        "id": erasure.id,
        "status": erasure.status.value,
        "subject": erasure.subject_kind,
        "subject_digest": erasure.subject_digest,
        "requested_at": erasure.requested_at,
        "local_done_at": erasure.local_done_at,
        "finished_at": erasure.finished_at,
        "removed": dict(erasure.removed or {}),
        "sendgrid": [
            {
                "integration_id": int(key),
                "step": state.get("step"),
                "outcome": state.get("outcome"),
                "found": state.get("found", 0),
                "deleted": state.get("deleted", 0),
                "job_ids": list(state.get("job_ids", [])),
                "error": state.get("error"),
            }
            for key, state in sorted((erasure.sendgrid or {}).items(), key=lambda kv: int(kv[0]))
        ],
        "attempts": erasure.attempts,
        "error": erasure.error,
    }
