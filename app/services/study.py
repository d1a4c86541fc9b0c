"""Study time, counted on the server from heartbeats (about every 30 s).

Time is credited only while the lesson is open and visible, never more than the real
time elapsed since the previous heartbeat that counted, and never from the reported
position (seeking ahead earns nothing). 学习进度 = credited time / the course's time.
"""
from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import bindparam, select, text, update
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


def _record(session: Session, enrollment_id: int, last_beat_at: dt.datetime | None, credit: int,
            lesson_id: int | None, position: float, visible: bool, now: dt.datetime) -> int:
    values = {"last_beat_at": now if visible else None}
    if lesson_id is not None:
        values["resume_lesson_id"] = lesson_id
        values["resume_position"] = max(0, int(position or 0))
    # one UPDATE, conditional on the beat it follows: two tabs beating at once count once
    same_beat = (Enrollment.last_beat_at.is_(None) if last_beat_at is None
                 else Enrollment.last_beat_at == last_beat_at)
    result = session.execute(
        update(Enrollment).where(Enrollment.id == enrollment_id, same_beat)
        .values(credited_seconds=Enrollment.credited_seconds + credit, **values)
        .execution_options(synchronize_session=False))
    session.commit()
    return credit if result.rowcount == 1 else 0


def heartbeat(session: Session, enrollment: Enrollment, lesson: Lesson | None, position: float,
              visible: bool, now: dt.datetime) -> int:
    """Record a heartbeat; returns the seconds credited by it (0 when nothing counts)."""
    credit = credit_for(enrollment.last_beat_at, visible, now, enrollment.credited_seconds,
                        enrollment.course.required_minutes * 60)
    return _record(session, enrollment.id, enrollment.last_beat_at, credit,
                   lesson.id if lesson else None, position, visible, now)


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


class BeatRefused(Exception):
    """The heartbeat's session is over (401), or the password must be changed (403)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def beat_for_user(session: Session, enrollment_id: int, user_id: int, token: str | None,
                  lesson_id: int | None, position: float, visible: bool, now: dt.datetime,
                  idle: dt.timedelta = sessions.IDLE_LIMIT,
                  absolute: dt.timedelta = sessions.ABSOLUTE_LIMIT) -> tuple[int, int] | None:
    """The heartbeat route's whole work: one query that checks the server-side session
    (open, within its limits), the account (active, password changed), the ownership rule
    (the enrolment belongs to this account), the open study window and the lesson's course;
    then one conditional UPDATE. None when the enrolment is not this account's open one
    (404); BeatRefused for the session or the password. Returns (seconds, 学习进度 %)."""
    if not token:
        raise BeatRefused(401, "请重新登录")
    row = session.execute(_BEAT_QUERY, {
        "enrollment_id": enrollment_id, "user_id": user_id, "lesson_id": lesson_id or 0,
        "token_hash": sessions.token_hash(token), "now": now}).first()
    if row is None:
        return None
    last, credited, minutes, lesson_found, session_id, created, seen, active, must_change = row
    if session_id is None or not active:
        raise BeatRefused(401, "登录已失效，请重新登录")
    limit = sessions.limit_reached(created, seen, now, idle, absolute)
    if limit is not None:
        sessions.end(session, token, now, limit[0])
        raise BeatRefused(401, limit[1])
    if must_change:
        raise BeatRefused(403, "请先修改默认密码")
    if lesson_id is not None and lesson_found is None:
        return None
    if session.get_bind().dialect.name == "postgresql":
        # a beat lost in a crash costs 30 s of credit: no need to wait for the WAL flush
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    if now - seen > sessions.TOUCH_EVERY:
        session.execute(update(UserSession).where(UserSession.id == session_id)
                        .values(last_seen_at=now).execution_options(synchronize_session=False))
    required = minutes * 60
    credit = credit_for(last, visible, now, credited, required)
    credit = _record(session, enrollment_id, last, credit, lesson_id, position, visible, now)
    return credit, min(100, math.floor((credited + credit) * 100 / max(1, required)))
