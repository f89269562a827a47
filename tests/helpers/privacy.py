"""Helpers of the privacy tests: run the pipeline's plain functions, run an erasure in-process, pg_dump."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

from models.base import utcnow
from workers.delivery.flush import flush_integration
from workers.delivery.imports import poll_imports
from workers.ingest.inbox import Incoming, store_events
from workers.privacy.erasure import Subject, request_erasure
from workers.privacy.remote import drive_erasure
from workers.processing.process import process_events
from workers.sendgrid.client import SendGridClient


def client_for(key: str):
    return lambda integration: SendGridClient(integration.api_url, key)


def store(db, *events: dict) -> list[int]:
    with db.begin() as session:
        return store_events(session, [Incoming(json.dumps(e).encode()) for e in events])


def deliver(db, sandbox, ids: list[int]) -> None:
    """Process stored events, flush, let the sandbox apply its jobs, settle them."""
    for integration_id in process_events(db, ids):
        flush_integration(db, integration_id, client_for(sandbox.key))
    sandbox.flush_jobs()
    poll_imports(db, client_for(sandbox.key), now=utcnow() + timedelta(minutes=1))


def erase(db, sandbox, settings, timeout: float = 60.0, **subject: str) -> int:
    with db.begin() as session:
        erasure_id = request_erasure(session, settings, Subject.of(**subject)).id
    drive_erasure(db, erasure_id, client_for(sandbox.key), settings, timeout=timeout)
    return erasure_id


def pg_dump(pg_url: str) -> str:
    url = pg_url.replace("postgresql+psycopg://", "postgresql://")
    return subprocess.run(["pg_dump", "--data-only", url], capture_output=True, text=True, check=True).stdout
