"""An integration's life after install, on PostgreSQL and the sandbox: disable / enable / delete (CLI, API and
the functions the console calls), a second install of the same account and list refused unless forced, update
checking what install checks, and an integration whose key cannot be decrypted shown as key_unreadable while
the others are still flushed and polled."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from config.secrets import encrypt_key
from models import Contact, Delivery, DeliveryAttempt, Event, ImportJob, Integration, IntegrationStatus
from models.base import utcnow
from tests.factories import identify
from tests.fixtures.processes import cli
from tests.helpers.api import INSTALL, seed_body
from tests.helpers.cli import invoke
from workers.delivery.flush import flush_integration
from workers.delivery.imports import jobs_due, poll_imports
from workers.ingest.inbox import Incoming, store_events
from workers.integrations.install import InstallError, InstallRequest, install, update_integration
from workers.integrations.lifecycle import (
    DuplicateIntegration,
    delete_integration,
    disable_integration,
    enable_integration,
    recheck_all,
)
from workers.integrations.status import client_for
from workers.processing.process import process_events

pytestmark = pytest.mark.integration
SECOND_LIST = "22222222-2222-4222-8222-222222222222"


def publish(db, *events: dict) -> list[int]:
    with db.begin() as session:
        ids = store_events(session, [Incoming(json.dumps(e).encode()) for e in events])
    process_events(db, ids)
    return ids


def deliveries_of(db, integration_id: int) -> dict[str, int]:
    with db() as session:
        rows = session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.integration_id == integration_id)
            .group_by(Delivery.status)
        ).all()
    return {status.value: n for status, n in rows}


def second_integration(db, sandbox, settings) -> int:
    sandbox.add_list(SECOND_LIST)
    with db.begin() as session:
        request = InstallRequest(api_key=sandbox.key, default_list_id=SECOND_LIST, name="second")
        return install(session, request, settings).integration.id


def test_disable_makes_no_deliveries_and_enable_sends_what_was_queued(db, sandbox, integration, settings):
    other = second_integration(db, sandbox, settings)
    publish(db, identify("before@example.com", "u1"))  # queued for both, not flushed yet
    with db.begin() as session:
        assert disable_integration(session, integration.id).status == IntegrationStatus.DISABLED
    publish(db, identify("during@example.com", "u2", 1))
    assert deliveries_of(db, integration.id) == {"queued": 1}  # none for the event of the disabled time
    assert deliveries_of(db, other) == {"queued": 2}

    report = flush_integration(db, integration.id, lambda i: client_for(i, settings))
    assert report.requests == 0 and "disabled" in report.stopped
    with db.begin() as session:
        assert enable_integration(session, integration.id, settings).status == IntegrationStatus.ACTIVE
    assert flush_integration(db, integration.id, lambda i: client_for(i, settings)).requests == 1
    assert deliveries_of(db, integration.id) == {"sent": 1}
    sandbox.flush_jobs()
    assert {c["email"] for c in sandbox.contacts()} == {"before@example.com"}


def test_delete_removes_what_belongs_to_the_integration_and_keeps_events(db, sandbox, integration, settings):
    other = second_integration(db, sandbox, settings)
    publish(db, identify("a@example.com", "u1"), identify("b@example.com", "u2"))
    flush_integration(db, integration.id, lambda i: client_for(i, settings))

    with db.begin() as session:
        removed = delete_integration(session, integration.id)
    assert (removed.deliveries, removed.contacts, removed.import_jobs) == (2, 2, 1)
    assert removed.attempts >= 3  # scopes, lists, field definitions at install; the upsert
    assert "every event" in removed.kept
    with db() as session:
        assert session.get(Integration, integration.id) is None
        assert session.scalar(select(func.count()).select_from(Event)) == 2
        for model in (Delivery, DeliveryAttempt, ImportJob, Contact):
            count = select(func.count()).select_from(model).where(model.integration_id == integration.id)
            assert session.scalar(count) == 0, model
    assert deliveries_of(db, other) == {"queued": 2}


def test_a_second_install_of_the_same_account_and_list_is_refused_unless_forced(db, sandbox, integration, settings):
    request = InstallRequest(api_key=sandbox.key, default_list_id=sandbox.list_id)
    with pytest.raises(DuplicateIntegration) as refused, db.begin() as session:
        install(session, request, settings)
    assert refused.value.existing_id == integration.id and f"integration {integration.id}" in str(refused.value)
    without_list = InstallRequest(api_key=sandbox.key)  # same key, no list: refused once one exists
    with db.begin() as session:
        first = install(session, without_list, settings).integration.id
    with pytest.raises(DuplicateIntegration, match=f"integration {first} "), db.begin() as session:
        install(session, without_list, settings)
    with db.begin() as session:
        forced = install(
            session, InstallRequest(api_key=sandbox.key, default_list_id=sandbox.list_id, force=True), settings
        )
    assert forced.integration.id not in (integration.id, first)


def test_update_checks_the_list_as_install_does(db, sandbox, integration, settings):
    with db.begin() as session:
        stored = session.get(Integration, integration.id)
        with pytest.raises(InstallError, match="list 00000000-0000-0000-0000-000000000000 does not exist"):
            update_integration(session, stored, settings, default_list_id="00000000-0000-0000-0000-000000000000")
    other = second_integration(db, sandbox, settings)
    with db.begin() as session:  # the list of another integration of the account: a duplicate
        stored = session.get(Integration, other)
        with pytest.raises(DuplicateIntegration, match=f"integration {integration.id} "):
            update_integration(session, stored, settings, default_list_id=sandbox.list_id)
    with db() as session:
        assert session.get(Integration, integration.id).default_list_id == sandbox.list_id


def test_the_pause_reason_names_the_list_once(db, sandbox, integration, settings):
    publish(db, identify("a@example.com", "u1"))
    with db.begin() as session:  # a list the account does not have (set directly: update would refuse it)
        session.get(Integration, integration.id).default_list_id = "0b7e0000-dead-4bee-8000-00000000abcd"
    flush_integration(db, integration.id, lambda i: client_for(i, settings))
    with db() as session:
        stored = session.get(Integration, integration.id)
    assert stored.status == IntegrationStatus.PAUSED
    assert "list_ids: list_ids" not in stored.status_reason and "unknown list id" in stored.status_reason


def test_an_undecryptable_key_is_key_unreadable_and_never_stops_the_others(db, sandbox, integration, settings):
    broken = second_integration(db, sandbox, settings)
    with db.begin() as session:
        session.get(Integration, broken).api_key_encrypted = encrypt_key(sandbox.key, Fernet.generate_key().decode())
    publish(db, identify("a@example.com", "u1"))
    worker_client = lambda i: client_for(i, settings)  # noqa: E731

    assert flush_integration(db, broken, worker_client).stopped == "key_unreadable"
    assert flush_integration(db, integration.id, worker_client).requests == 1
    with db.begin() as session:  # a due job of each integration; the unreadable one's first
        session.add(ImportJob(job_id=str(uuid.uuid4()), integration_id=broken, next_poll_at=utcnow(), polls=0))
        stored = session.get(Integration, broken)
        assert stored.status == IntegrationStatus.KEY_UNREADABLE
        stored.status = IntegrationStatus.ACTIVE  # as if another worker had set it active again
    sandbox.flush_jobs()
    later = utcnow() + timedelta(seconds=5)  # the accepted job is due a second after the PUT
    assert poll_imports(db, worker_client, now=later) == 1  # the readable integration's job finished
    assert deliveries_of(db, integration.id) == {"succeeded": 1}
    with db() as session:
        stored = session.get(Integration, broken)
        assert stored.status == IntegrationStatus.KEY_UNREADABLE
        assert "SIGNAL_SECRET_KEY" in stored.status_reason and f"update-key {broken}" in stored.status_reason
        assert not jobs_due(session, later)  # its job waits without being due for polling

    with db.begin() as session:  # the right key again: the sweep's recheck resumes it
        session.get(Integration, broken).api_key_encrypted = encrypt_key(sandbox.key, settings.secret_key)
        assert recheck_all(session, settings) == [broken]
    assert flush_integration(db, broken, worker_client).requests == 1


def test_the_cli_refuses_a_duplicate_and_runs_the_lifecycle(service_env, sandbox, db, monkeypatch):
    """The installed binary's exit codes and one-line errors (install refused, no such integration); the steps
    between run in this process, where `enable`'s flush is recorded instead of running eagerly (no broker here)."""
    flushes: list[list[int]] = []
    monkeypatch.setattr("workers.tasks.trigger_flush", lambda ids: flushes.append(list(ids)))
    install_args = ("install", "--api-key", sandbox.key, "--default-list-id", sandbox.list_id)
    first = cli(service_env, *install_args)
    assert first.returncode == 0, first.stderr
    first_id = first.stdout.strip()
    again = cli(service_env, *install_args)
    assert again.returncode == 1 and f"integration {first_id} " in again.stderr and "--force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    forced = invoke(service_env, *install_args, "--force")
    assert forced.returncode == 0, forced.stderr

    unknown = invoke(service_env, "integrations", "update", first_id, "--default-list-id", "0b7e0000-dead-4bee-8000-00")
    assert unknown.returncode == 1 and unknown.stderr.strip() == (
        "update failed: list 0b7e0000-dead-4bee-8000-00 does not exist in this SendGrid account: find the List ID "
        "under Marketing > Contacts > Lists, or leave default_list_id out"
    )
    assert "disabled" in invoke(service_env, "integrations", "disable", first_id).stdout
    assert invoke(service_env, "integrations", "enable", first_id).stdout.strip() == f"integration {first_id} active"
    deleted = invoke(service_env, "integrations", "delete", first_id, "--yes")
    assert deleted.returncode == 0 and "kept: every event" in deleted.stdout
    assert flushes == [[int(first_id)]]
    missing = cli(service_env, "integrations", "disable", first_id)
    assert missing.returncode == 1 and missing.stderr.strip() == (
        f"error: no integration {first_id}: `signal-sendgrid integrations` lists them"
    )


def test_the_cli_and_api_show_key_unreadable(service_env, api, db, sandbox):
    body = json.loads(seed_body(sandbox.key, sandbox.list_id))
    installed = api.post(INSTALL, json=body)
    assert installed.status_code == 201, installed.text
    assert api.post(INSTALL, json=body).json()["errors"] == {"existing_id": installed.json()["id"]}
    assert api.post(INSTALL, json=body | {"force": True}).status_code == 201
    listed = invoke({**service_env, "SIGNAL_SECRET_KEY": Fernet.generate_key().decode()}, "integrations")
    assert listed.returncode == 0 and listed.stdout.count("key_unreadable") == 2, listed.stdout
    assert "SIGNAL_SECRET_KEY does not decrypt" in listed.stdout


def test_the_api_disables_enables_and_deletes(api, db, sandbox):
    installed = api.post(INSTALL, json=json.loads(seed_body(sandbox.key, sandbox.list_id))).json()
    base = f"/v1/admin/integrations/{installed['id']}"
    disabled = api.post(f"{base}/disable")
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    assert "no deliveries are made" in disabled.json()["status_reason"]
    enabled = api.post(f"{base}/enable")
    assert enabled.status_code == 200 and enabled.json()["status"] == "active"
    bad_list = api.request("PATCH", base, json={"default_list_id": "00000000-0000-0000-0000-000000000000"})
    assert bad_list.status_code == 400 and "does not exist in this SendGrid account" in bad_list.json()["message"]
    deleted = api.request("DELETE", base)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["removed"]["deliveries"] == 0 and deleted.json()["id"] == installed["id"]
    assert api.request("DELETE", base).status_code == 404
    assert api.post(f"{base}/enable").status_code == 404
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Integration)) == 0


def test_an_invalid_config_is_config_invalid_and_never_stops_the_others(db, sandbox, integration, settings, api):
    other = second_integration(db, sandbox, settings)
    publish(db, identify("a@example.com", "u1"))  # queued for both
    with db.begin() as session:
        session.get(Integration, other).config = {"trait_fields": {"plan": "first name"}}  # not a field name
    listed = {row["id"]: row for row in api.get("/v1/admin/integrations").json()}
    assert listed[other]["status"] == "config_invalid" and "trait_fields" in listed[other]["status_reason"]
    assert listed[integration.id]["status"] == "active"

    worker_client = lambda i: client_for(i, settings)  # noqa: E731
    assert flush_integration(db, other, worker_client).stopped == "config_invalid"
    assert flush_integration(db, integration.id, worker_client).requests == 1
    publish(db, identify("b@example.com", "u2", 1))  # its deliveries fail with the reason; the other's queue
    assert deliveries_of(db, other) == {"queued": 1, "failed": 1}
    with db() as session:
        failed = session.scalar(select(Delivery).where(Delivery.integration_id == other, Delivery.status == "failed"))
        assert "invalid mapping config" in failed.reason


def test_import_polling_without_due_jobs_is_one_cheap_query(db, sandbox, integration, settings):
    def no_client(_integration):  # noqa: ANN001, ANN202
        raise AssertionError("no job is due: no client, no request to SendGrid")

    assert poll_imports(db, no_client) == 0
    assert [r for r in sandbox.requests_log() if "imports" in r["path"]] == []
