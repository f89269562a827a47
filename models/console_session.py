"""Signed-in console sessions, server-side: signing out deletes the row, so a copied cookie stops working.

The cookie carries a random session id; this table keeps only its SHA-256 (`id_digest`), so reading the table
gives no cookie to replay. A row lives until sign-out or `expires_at` (sign-in + SESSION_HOURS); expired rows are
deleted at the next sign-in (workers/console/auth.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's session id
    signed_in_at: Mapped[created]
    expires_at: Mapped[datetime] = mapped_column(index=True)
