"""workers.services.privacy on PostgreSQL: an erasure request sends its trigger after commit and never after
rollback (recorded where it is sent, `workers.tasks.trigger_erasure`), runs here without a broker when the caller
says how (the API's thread), and sends nothing when the caller runs it itself (`forget` without --queue)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from models import Erasure
from workers.services import privacy

pytestmark = pytest.mark.integration
EMAIL = "service.sam@example.com"


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, int]]:
    """Where each erasure went: ("pool", id) for `workers.tasks.trigger_erasure`, ("here", id) for run_here."""
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr("workers.tasks.trigger_erasure", lambda erasure_id: sent.append(("pool", erasure_id)))
    return sent


def request(db, settings, sent: list, commit: bool, **how) -> int:  # noqa: ANN001 - a sessionmaker
    session: Session = db()
    try:
        erasure_id = privacy.request_erasure(session, settings, privacy.subject(EMAIL), **how)["id"]
        assert session.get(Erasure, erasure_id) is not None
        assert sent == []  # nothing is sent before the transaction ends
        session.commit() if commit else session.rollback()
    finally:
        session.close()
    return erasure_id


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
@pytest.mark.parametrize("inline", [False, True], ids=["broker", "no-broker"])
def test_an_erasure_is_sent_after_commit_and_never_after_rollback(db, settings, sent, monkeypatch, commit, inline):
    monkeypatch.setattr("workers.services.triggers.runs_inline", lambda: inline)
    erasure_id = request(db, settings, sent, commit, run_here=lambda i: sent.append(("here", i)))
    expected = [("here" if inline else "pool", erasure_id)]
    assert sent == (expected if commit else [])


def test_without_run_here_the_pool_runs_it_even_without_a_broker(db, settings, sent, monkeypatch):
    """Celery's eager mode runs the task in the process that sends it: the trigger stays the pool's."""
    monkeypatch.setattr("workers.services.triggers.runs_inline", lambda: True)
    erasure_id = request(db, settings, sent, commit=True)
    assert sent == [("pool", erasure_id)]


def test_a_caller_that_runs_it_itself_is_sent_nothing(db, settings, sent):
    request(db, settings, sent, commit=True, queue=False, run_here=lambda i: sent.append(("here", i)))
    assert sent == []


def test_summary_and_recent_read_what_was_requested(db, settings, sent):
    first = request(db, settings, sent, commit=True, queue=False)
    second = request(db, settings, sent, commit=True, queue=False)
    with db() as session:
        assert privacy.summary(session, second)["status"] == "pending"
        assert privacy.summary(session, second + 1000) is None
        assert [row["id"] for row in privacy.recent(session, 2)] == [second, first]
