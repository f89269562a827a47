"""The console's signed-in sessions, server-side (`console_sessions`): signing in opens one, signing out revokes
it (every copy of the cookie with it), expired ones go at the next sign-in. The table keeps the SHA-256 of a
session id, never the id."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models.console_session import ConsoleSession


def id_digest(session_id: str) -> str:
    """What `console_sessions` keeps of a session id: its SHA-256, never the id itself."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(session: Session, lifetime: timedelta) -> tuple[str, datetime]:
    """A new random session id (for the cookie) and when it started; expired rows go."""
    session_id = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    session.add(ConsoleSession(id_digest=id_digest(session_id), signed_in_at=now, expires_at=now + lifetime))
    return session_id, now


def is_active(session: Session, session_id: str) -> bool:
    """Not signed out and not expired."""
    query = select(ConsoleSession.expires_at).where(ConsoleSession.id_digest == id_digest(session_id))
    expires_at = session.scalar(query)
    return expires_at is not None and expires_at > datetime.now(UTC)


def revoke(session: Session, session_id: str) -> None:
    """Sign out: the session's row goes, so no copy of its cookie is accepted again."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.id_digest == id_digest(session_id)))
