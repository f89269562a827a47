"""Every consent change reaches the unsubscribe group, even after a flush whose request reached SendGrid but whose
commit was lost (a worker killed between the two), and even when the flush trigger after the change was lost.

The chaos run of the reference model met the first race once: a withdrawal's suppression landed in SendGrid, the
worker died before recording it, the grant came next and was taken as already in place, and the person stayed
unsubscribed. Real PostgreSQL, the sandbox over HTTP.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Contact
from tests.factories import identify
from tests.pipeline.test_races import flush_all, process, store
from workers.integrations.install import InstallRequest, install
from workers.processing import sweep as sweeping
from workers.sendgrid.client import SendGridClient

pytestmark = pytest.mark.integration

EMAIL = "consent@example.com"


@pytest.fixture
def grouped(db, sandbox, settings) -> int:
    """An integration with an unsubscribe group (consent is forwarded to it)."""
    with db.begin() as session:
        request = InstallRequest(api_key=sandbox.key, options={"unsubscribe_group_id": sandbox.group_id})
        return install(session, request, settings).integration.id


def consent(granted: bool, minutes: int) -> dict:
    return identify(EMAIL, "u-consent", minutes) | {"context": {"consent": {"marketing": granted}}}


def in_group(sandbox) -> list[str]:
    return sandbox.suppressions()["groups"].get(str(sandbox.group_id), [])


def forwarded(db) -> tuple[bool | None, bool]:
    with db() as session:
        contact = session.scalars(select(Contact).where(Contact.email == EMAIL)).one()
        return contact.consent, contact.suppressed


def test_a_grant_after_a_suppression_whose_record_was_lost_removes_it(db, sandbox, grouped):
    flush_all(db, sandbox, *process(db, store(db, consent(True, 0))))
    process(db, store(db, consent(False, 1)))
    # A flush sent the withdrawal and died before its commit: SendGrid has it, the contact says it is not sent.
    assert SendGridClient(sandbox.url, sandbox.key).suppress(sandbox.group_id, [EMAIL]).ok
    assert forwarded(db) == (False, False)

    flush_all(db, sandbox, *process(db, store(db, consent(True, 2))))
    assert in_group(sandbox) == []
    assert forwarded(db) == (True, False)


def test_a_withdrawal_after_an_unsuppression_whose_record_was_lost_adds_it_again(db, sandbox, grouped):
    flush_all(db, sandbox, *process(db, store(db, consent(False, 0))))
    assert in_group(sandbox) == [EMAIL]
    process(db, store(db, consent(True, 1)))
    # A flush sent the grant's removal and died before its commit: SendGrid no longer has it, the contact says it has.
    assert SendGridClient(sandbox.url, sandbox.key).unsuppress(sandbox.group_id, EMAIL).ok
    assert forwarded(db) == (True, True)

    flush_all(db, sandbox, *process(db, store(db, consent(False, 2))))
    assert in_group(sandbox) == [EMAIL]
    assert forwarded(db) == (False, True)


def test_the_sweep_flushes_a_consent_change_whose_trigger_was_lost(db, sandbox, grouped):
    flush_all(db, sandbox, *process(db, store(db, consent(True, 0))))
    process(db, store(db, consent(False, 1)))  # its flush trigger never arrives
    with db.begin() as session:
        assert sweeping.sweep(session).integrations_to_flush == [grouped]
    flush_all(db, sandbox, grouped)
    assert in_group(sandbox) == [EMAIL]
    with db.begin() as session:
        assert sweeping.sweep(session).integrations_to_flush == []  # in step again: nothing to flush
