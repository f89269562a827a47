"""workers.services.integrations on PostgreSQL and the sandbox: each state change sends its flush after commit
and never after rollback (recorded where it is sent, `workers.tasks.trigger_flush`), `update-key` locks the row
so a second update waits for the first, and `integrations update --resume` rechecks as `enable` does."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from config.secrets import decrypt_key, mask_key, secret_for
from models import Integration, IntegrationStatus
from sandbox import make_key
from tests.helpers.cli import invoke
from workers.services import integrations as service
from workers.services.secrets import rotate_keys

pytestmark = pytest.mark.integration
SECOND_LIST = "33333333-3333-4333-8333-333333333333"
BROKEN_CONFIG = {"trait_fields": {"plan": "first name"}}  # not a custom field name: the mapping does not load


@pytest.fixture
def flushes(monkeypatch) -> list[list[int]]:
    """What `workers.tasks.trigger_flush` is asked to flush, instead of sending it to the pool."""
    sent: list[list[int]] = []
    monkeypatch.setattr("workers.tasks.trigger_flush", lambda ids: sent.append(list(ids)))
    return sent


def second_key(sandbox) -> str:
    key = make_key("second")
    sandbox.add_key(key)
    return key


# Each state-changing service, called as an interface calls it, and the flush it asks for (None: none).
CHANGES: dict[str, tuple[Callable, bool]] = {
    "install": (
        lambda s, i, sandbox, settings: service.install(
            s, service.InstallRequest(api_key=sandbox.key, default_list_id=sandbox.list_id, force=True), settings
        ),
        False,
    ),
    "update": (
        lambda s, i, sandbox, settings: service.update(s, i, settings, default_list_id=sandbox.list_id),
        True,
    ),
    "update --resume": (lambda s, i, sandbox, settings: service.update(s, i, settings, resume=True), True),
    "update_key": (lambda s, i, sandbox, settings: service.update_key(s, i, second_key(sandbox), settings), True),
    "disable": (lambda s, i, sandbox, settings: service.disable(s, i, settings), False),
    "enable": (lambda s, i, sandbox, settings: service.enable(s, i, settings), True),
    "delete": (lambda s, i, sandbox, settings: service.delete(s, i), False),
    "rotate_keys": (lambda s, i, sandbox, settings: rotate_keys(s, secret_for(settings)), False),
}


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
@pytest.mark.parametrize("name", list(CHANGES))
def test_each_change_sends_its_flush_after_commit_and_never_after_rollback(
    db, sandbox, integration, settings, flushes, name, commit
):
    change, flushes_it = CHANGES[name]
    session: Session = db()
    try:
        change(session, integration.id, sandbox, settings)
        assert flushes == []  # nothing is sent before the transaction ends
        session.commit() if commit else session.rollback()
    finally:
        session.close()
    assert flushes == ([[integration.id]] if flushes_it and commit else [])


@pytest.mark.usefixtures("committed_db")  # two connections: a lock is only a lock between them
def test_a_second_update_key_waits_for_the_first_to_commit(db, sandbox, integration, settings):
    first, second = make_key("first"), make_key("second")
    sandbox.add_key(first)
    sandbox.add_key(second)
    holder = db()
    service.update_key(holder, integration.id, first, settings)  # the row is locked until `holder` commits
    finished: list[float] = []

    def update_second() -> None:
        with db.begin() as session:
            service.update_key(session, integration.id, second, settings)
        finished.append(time.monotonic())

    waiter = threading.Thread(target=update_second, daemon=True)
    try:
        waiter.start()
        waiter.join(1.0)
        assert waiter.is_alive() and not finished, "the second update did not wait for the row lock"
        committed = time.monotonic()
        holder.commit()
    finally:
        holder.close()
    waiter.join(20)
    assert finished and finished[0] >= committed
    with db() as session:  # one after the other: the second key is the one stored, not lost under the first
        stored = session.get(Integration, integration.id)
        assert decrypt_key(stored.api_key_encrypted, secret_for(settings)) == second
        assert stored.api_key_hint == mask_key(second)


def status_of(db, integration_id: int) -> tuple[IntegrationStatus, str | None]:
    with db() as session:
        stored = session.get(Integration, integration_id)
        return stored.status, stored.status_reason


def test_update_resume_rechecks_as_enable_does(db, sandbox, integration, service_env, flushes):
    """The commands run in this process, whose Celery has no broker: the flushes they ask for are recorded
    (`flushes`) instead of running here eagerly."""
    with db.begin() as session:
        stored = session.get(Integration, integration.id)
        stored.status, stored.status_reason, stored.config = IntegrationStatus.PAUSED, "a list problem", BROKEN_CONFIG
    resumed = invoke(service_env, "integrations", "update", str(integration.id), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    status, reason = status_of(db, integration.id)
    assert status == IntegrationStatus.CONFIG_INVALID and "the stored mapping config does not load" in reason
    assert resumed.stdout.strip() == f"integration {integration.id} updated (config_invalid): {reason}"

    with db.begin() as session:  # the same state through `enable`: the same answer
        stored = session.get(Integration, integration.id)
        stored.status, stored.status_reason = IntegrationStatus.PAUSED, "a list problem"
    enabled = invoke(service_env, "integrations", "enable", str(integration.id))
    assert enabled.returncode == 0 and status_of(db, integration.id) == (status, reason)

    with db.begin() as session:  # the mapping fixed: resume sets it active
        session.get(Integration, integration.id).config = {"trait_fields": {}}
    resumed = invoke(service_env, "integrations", "update", str(integration.id), "--resume")
    assert resumed.stdout.strip() == f"integration {integration.id} updated (active)", resumed.stderr
    assert status_of(db, integration.id) == (IntegrationStatus.ACTIVE, None)
    assert flushes == [[integration.id]] * 3


def test_the_cli_json_is_the_api_body(db, sandbox, integration, service_env, api):
    listed = invoke(service_env, "integrations", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == api.get("/v1/admin/integrations").json()
    assert list(json.loads(listed.stdout)[0]["field_ids"])  # the API's name for it (the CLI said `fields`)
