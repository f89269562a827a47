"""workers.services.sessions on PostgreSQL: a session opened is active until revoked or expired, the table keeps
only the id's digest, and expired rows go at the next sign-in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models.console_session import ConsoleSession
from workers.services import sessions

pytestmark = pytest.mark.integration
HOURS = timedelta(hours=8)


def test_a_session_is_active_until_revoked(db):
    with db.begin() as session:
        session_id, _ = sessions.open_session(session, HOURS)
    with db.begin() as session:
        assert sessions.is_active(session, session_id)
        assert not sessions.is_active(session, session_id + "x")
        assert session.scalars(select(ConsoleSession.id_digest)).all() == [sessions.id_digest(session_id)]
        sessions.revoke(session, session_id)
    with db.begin() as session:
        assert not sessions.is_active(session, session_id)


def test_an_expired_session_is_refused_and_goes_at_the_next_sign_in(db):
    with db.begin() as session:
        expired, _ = sessions.open_session(session, timedelta(seconds=-1))
    with db.begin() as session:
        assert not sessions.is_active(session, expired)
        fresh, _ = sessions.open_session(session, HOURS)
    with db.begin() as session:
        assert session.scalars(select(ConsoleSession.id_digest)).all() == [sessions.id_digest(fresh)]
