"""Small helpers shared by the sandbox tests: upsert contacts, wait for their job, define fields."""

from __future__ import annotations

CONTACTS = "/v3/marketing/contacts"


def upsert(box, contacts, **body):
    return box.api("PUT", CONTACTS, json={**body, "contacts": contacts})


def upsert_and_apply(box, contacts, **body) -> dict:
    """Upsert, then read the import job (which applies it when the delay has passed)."""
    response = upsert(box, contacts, **body)
    assert response.status_code == 202, response.text
    return job_status(box, response.json()["job_id"])


def job_status(box, job_id) -> dict:
    response = box.api("GET", f"{CONTACTS}/imports/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def define(box, name, field_type="Text") -> str:
    response = box.api("POST", "/v3/marketing/field_definitions", json={"name": name, "field_type": field_type})
    assert response.status_code == 200, response.text
    return response.json()["id"]
