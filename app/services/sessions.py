"""Server-side sessions: a token in the signed cookie, its hash and times in user_session.
A request is accepted only while its session is open, used within the idle limit and
younger than the absolute limit; logout and password change close it for good."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import DateTime, and_, bindparam, select, update
from sqlalchemy.orm import Session

from app.models import UserSession

IDLE_LIMIT = dt.timedelta(minutes=30)
ABSOLUTE_LIMIT = dt.timedelta(hours=12)
# last_seen_at is written at most this often: one write a minute, not one per request.
TOUCH_EVERY = dt.timedelta(seconds=60)
WEB, API = "web", "api"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


token_hash = _hash


def limit_reached(created_at: dt.datetime, last_seen_at: dt.datetime, now: dt.datetime,
                  idle: dt.timedelta = IDLE_LIMIT,
                  absolute: dt.timedelta = ABSOLUTE_LIMIT) -> tuple[str, str] | None:
    """(reason kept on the row, message for the user) when a limit has run out."""
    if now - created_at > absolute:
        return "超过12小时", "登录已超过12小时，请重新登录"
    if now - last_seen_at > idle:
        return "闲置超时", "30分钟未操作，请重新登录"
    return None


def fresh_clause(user_id_column):
    """SQL, stricter than ``check``: this account's session is open, within its limits and
    seen within TOUCH_EVERY, so a request it admits needs no write (one that ``check``
    would touch, end or refuse is left to ``check``). Its values: ``fresh_params``."""
    return and_(UserSession.user_id == user_id_column,
                UserSession.token_hash == bindparam("token_hash"), UserSession.ended_at.is_(None),
                UserSession.created_at >= bindparam("created_after", type_=DateTime),
                UserSession.last_seen_at >= bindparam("seen_after", type_=DateTime))


def fresh_params(token: str, now: dt.datetime, idle: dt.timedelta = IDLE_LIMIT,
                 absolute: dt.timedelta = ABSOLUTE_LIMIT) -> dict:
    return {"token_hash": _hash(token), "created_after": now - absolute,
            "seen_after": now - min(idle, TOUCH_EVERY)}


def start(session: Session, user_id: int, ip: str | None, now: dt.datetime,
          kind: str = WEB) -> str:
    token = secrets.token_urlsafe(32)
    session.add(UserSession(token_hash=_hash(token), user_id=user_id, created_at=now,
                            last_seen_at=now, ip=ip, kind=kind))
    session.commit()
    return token


def check(session: Session, token: str | None, user_id: int, now: dt.datetime,
          idle: dt.timedelta = IDLE_LIMIT, absolute: dt.timedelta = ABSOLUTE_LIMIT) -> str | None:
    """None when the session may go on, else why not (as shown to the user)."""
    if not token:
        return "请重新登录"
    row = session.execute(
        select(UserSession).where(UserSession.token_hash == _hash(token))
    ).scalar_one_or_none()
    if row is None or row.user_id != user_id or row.ended_at is not None:
        return "登录已失效，请重新登录"
    limit = limit_reached(row.created_at, row.last_seen_at, now, idle, absolute)
    if limit is not None:
        _end(row, now, limit[0])
        session.commit()
        return limit[1]
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        session.commit()
    return None


def _end(row: UserSession, now: dt.datetime, reason: str) -> None:
    row.ended_at = now
    row.end_reason = reason


def end(session: Session, token: str | None, now: dt.datetime, reason: str) -> None:
    if not token:
        return
    session.execute(
        update(UserSession)
        .where(UserSession.token_hash == _hash(token), UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
    session.commit()


def end_all(session: Session, user_id: int, now: dt.datetime, reason: str,
            kind: str | None = None) -> None:
    """Every open session of the account (or only those of one ``kind``)."""
    stmt = (update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
            .values(ended_at=now, end_reason=reason))
    if kind is not None:
        stmt = stmt.where(UserSession.kind == kind)
    session.execute(stmt)
    session.commit()
