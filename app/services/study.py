"""Study time, counted on the server from heartbeats (about every 30 s).

Time is credited only while the lesson is open and visible, never more than the real
time elapsed since the previous heartbeat that counted, and never from the reported
position (seeking ahead earns nothing). 学习进度 = credited time / the course's time.
"""
from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from app.models import AppUser, Course, Enrollment, Expert, Lesson, UserSession
from app.services import sessions

HEARTBEAT_SECONDS = 30
# A gap longer than this means the page was closed (or the computer slept): not credited.
MAX_GAP = dt.timedelta(seconds=HEARTBEAT_SECONDS * 2 + 15)


def progress_percent(enrollment: Enrollment) -> int:
    required = max(1, enrollment.course.required_minutes * 60)
    return min(100, math.floor(enrollment.credited_seconds * 100 / required))


def credit_for(last_beat_at: dt.datetime | None, visible: bool, now: dt.datetime,
               credited: int, required: int) -> int:
    """Seconds a heartbeat earns: the real time since the previous beat that counted, if
    the lesson was shown all along (no gap longer than MAX_GAP), up to what is required."""
    credit = 0
    if visible and last_beat_at is not None and dt.timedelta(0) < now - last_beat_at <= MAX_GAP:
        credit = int((now - last_beat_at).total_seconds())
    return max(0, min(credit, required - credited))


def _record(conn: Connection, enrollment_id: int, last_beat_at: dt.datetime | None, credit: int,
            lesson_id: int | None, position: float, visible: bool, now: dt.datetime) -> int:
    """One UPDATE, conditional on the beat it follows: two tabs beating at once count once."""
    result = conn.execute(_RECORD[last_beat_at is None, lesson_id is not None], {
        "enrollment_id": enrollment_id, "last": last_beat_at, "credit": credit,
        "beat_at": now if visible else None, "lesson_id": lesson_id,
        "position": max(0, int(position or 0))})
    return credit if result.rowcount == 1 else 0


def heartbeat(session: Session, enrollment: Enrollment, lesson: Lesson | None, position: float,
              visible: bool, now: dt.datetime) -> int:
    """Record a heartbeat; returns the seconds credited by it (0 when nothing counts)."""
    credit = credit_for(enrollment.last_beat_at, visible, now, enrollment.credited_seconds,
                        enrollment.course.required_minutes * 60)
    credit = _record(session.connection(), enrollment.id, enrollment.last_beat_at, credit,
                     lesson.id if lesson else None, position, visible, now)
    session.commit()
    return credit


# Built once: at hundreds of beats a second, building the statement is a cost of its own.
_BEAT_QUERY = (
    select(Enrollment.last_beat_at, Enrollment.credited_seconds, Course.required_minutes,
           Lesson.id, UserSession.id, UserSession.created_at, UserSession.last_seen_at,
           AppUser.active, AppUser.must_change_password)
    .join(Expert, Expert.id == Enrollment.expert_id)
    .join(Course, Course.id == Enrollment.course_id)
    .join(AppUser, AppUser.id == Expert.user_id)
    .outerjoin(UserSession, (UserSession.user_id == AppUser.id)
               & (UserSession.token_hash == bindparam("token_hash"))
               & UserSession.ended_at.is_(None))
    .outerjoin(Lesson, (Lesson.id == bindparam("lesson_id")) & (Lesson.course_id == Course.id))
    .where(Enrollment.id == bindparam("enrollment_id"), Expert.user_id == bindparam("user_id"),
           Enrollment.study_start <= bindparam("now"), Enrollment.study_end >= bindparam("now"))
)
_TOUCH = (update(UserSession).where(UserSession.id == bindparam("session_id"))
          .values(last_seen_at=bindparam("now")))
_END = (update(UserSession)
        .where(UserSession.id == bindparam("session_id"), UserSession.ended_at.is_(None))
        .values(ended_at=bindparam("now"), end_reason=bindparam("reason")))


def _record_statement(first_beat: bool, with_lesson: bool):
    """The credit UPDATE, conditional on the beat it follows (two tabs beating at once count
    once); four shapes, built once each."""
    same_beat = (Enrollment.last_beat_at.is_(None) if first_beat
                 else Enrollment.last_beat_at == bindparam("last"))
    values = {"credited_seconds": Enrollment.credited_seconds + bindparam("credit"),
              "last_beat_at": bindparam("beat_at")}
    if with_lesson:
        values |= {"resume_lesson_id": bindparam("lesson_id"),
                   "resume_position": bindparam("position")}
    return (update(Enrollment).where(Enrollment.id == bindparam("enrollment_id"), same_beat)
            .values(**values))


_RECORD = {(first, lesson): _record_statement(first, lesson)
           for first in (False, True) for lesson in (False, True)}


class BeatRefused(Exception):
    """The heartbeat's session is over (401), or the password must be changed (403)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def beat_for_user(conn: Connection, enrollment_id: int, user_id: int, token: str | None,
                  lesson_id: int | None, position: float, visible: bool, now: dt.datetime,
                  idle: dt.timedelta = sessions.IDLE_LIMIT,
                  absolute: dt.timedelta = sessions.ABSOLUTE_LIMIT) -> tuple[int, int] | None:
    """The heartbeat route's whole work, in Core statements on ``conn`` (the caller commits;
    on PostgreSQL it is an autocommit connection): one query that checks the server-side
    session (open, within its limits), the account (active, password changed), the ownership
    rule (the enrolment belongs to this account), the open study window and the lesson's
    course; then one conditional UPDATE (and, once a minute, the session's last_seen_at).
    None when the enrolment is not this account's open one (404); BeatRefused for the
    session or the password (an expired session is ended first). Returns (seconds, 学习进度 %)."""
    if not token:
        raise BeatRefused(401, "请重新登录")
    row = conn.execute(_BEAT_QUERY, {
        "enrollment_id": enrollment_id, "user_id": user_id, "lesson_id": lesson_id or 0,
        "token_hash": sessions.token_hash(token), "now": now}).first()
    if row is None:
        return None
    last, credited, minutes, lesson_found, session_id, created, seen, active, must_change = row
    if session_id is None or not active:
        raise BeatRefused(401, "登录已失效，请重新登录")
    limit = sessions.limit_reached(created, seen, now, idle, absolute)
    if limit is not None:
        conn.execute(_END, {"session_id": session_id, "now": now, "reason": limit[0]})
        raise BeatRefused(401, limit[1])
    if must_change:
        raise BeatRefused(403, "请先修改默认密码")
    if lesson_id is not None and lesson_found is None:
        return None
    if now - seen > sessions.TOUCH_EVERY:
        conn.execute(_TOUCH, {"session_id": session_id, "now": now})
    required = minutes * 60
    credit = credit_for(last, visible, now, credited, required)
    credit = _record(conn, enrollment_id, last, credit, lesson_id, position, visible, now)
    return credit, min(100, math.floor((credited + credit) * 100 / max(1, required)))
