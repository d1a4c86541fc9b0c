"""Server-side sessions, their storage: a token in the signed cookie, its hash and times in
user_session. Logout and password change close them for good. The rules a request's session
must meet (limits, ownership of the token) are in ``app/services/access.py``.

Everything here flushes; the request (or the job) commits.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import UserSession

# last_seen_at is written at most this often: one write a minute, not one per request.
TOUCH_EVERY = dt.timedelta(seconds=60)
WEB, API = "web", "api"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user_id: int, ip: str | None, now: dt.datetime,
          kind: str = WEB) -> str:
    """A new session of the account; its token (for the cookie or the JWT's claims)."""
    token = secrets.token_urlsafe(32)
    session.add(UserSession(token_hash=token_hash(token), user_id=user_id, created_at=now,
                            last_seen_at=now, ip=ip, kind=kind))
    session.flush()
    return token


def end(session: Session, token: str | None, now: dt.datetime, reason: str) -> None:
    if not token:
        return
    session.execute(
        update(UserSession)
        .where(UserSession.token_hash == token_hash(token), UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )


def end_all(session: Session, user_id: int, now: dt.datetime, reason: str,
            kind: str | None = None) -> None:
    """Every open session of the account (or only those of one ``kind``)."""
    stmt = (update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
            .values(ended_at=now, end_reason=reason))
    if kind is not None:
        stmt = stmt.where(UserSession.kind == kind)
    session.execute(stmt)
