"""Study time, counted on the server from heartbeats (about every 30 s).

Time is credited only while the lesson is open and visible, never more than the real
time elapsed since the previous heartbeat that counted, and never from the reported
position (seeking ahead earns nothing). 学习进度 = credited time / the course's time.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import Connection, DateTime, Integer, bindparam, select, text, update
from sqlalchemy.orm import Session

from app.models import AppUser, Course, Enrollment, Expert, Lesson, UserSession
from app.services import access, sessions
from app.services.errors import DomainError

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


# Built once: at hundreds of beats a second, building the statement is a cost of its own.
# Every check is a rule of app.services.access: ownership, the study window, the session.
_BEAT_QUERY = (
    select(Enrollment.last_beat_at, Enrollment.credited_seconds, Course.required_minutes,
           Lesson.id, UserSession.id, UserSession.created_at, UserSession.last_seen_at,
           AppUser.active, AppUser.must_change_password)
    .join(Expert, Expert.id == Enrollment.expert_id)
    .join(Course, Course.id == Enrollment.course_id)
    .join(AppUser, AppUser.id == Expert.user_id)
    .outerjoin(UserSession, access.session_open(AppUser.id))
    .outerjoin(Lesson, (Lesson.id == bindparam("lesson_id")) & (Lesson.course_id == Course.id))
    .where(Enrollment.id == bindparam("enrollment_id"),
           access.expert_owned_by(bindparam("user_id")),
           access.study_window_open(bindparam("now", type_=DateTime)))
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


class BeatRefused(DomainError):
    """The heartbeat's session is over (401), or the password must be changed (403)."""


def _pg(clause) -> str:
    return access.postgresql_text(clause)


# PostgreSQL only: the same query, checks and UPDATEs as one statement, one round trip
# instead of two (each costs about as much as the work itself at a thousand beats a second).
# Its checks are the access rules' SQL (spelt out below) and credit_for restated; tests hold
# it to the Python path. FOR UPDATE: a second tab's beat waits and then sees the first one's
# last_beat_at.
_BEAT_ONE_STATEMENT = text(f"""
WITH beat AS (
    SELECT enrollment.id AS enrollment_id, enrollment.last_beat_at, enrollment.credited_seconds,
           course.required_minutes, lesson.id AS lesson_found, user_session.id AS session_id,
           user_session.created_at, user_session.last_seen_at, ab_user.active,
           ab_user.must_change_password,
           ({_pg(access.session_within_limits())}) AS in_limits,
           ({_pg(access.account_usable())}) AS usable
    FROM enrollment
    JOIN expert ON expert.id = enrollment.expert_id
    JOIN course ON course.id = enrollment.course_id
    JOIN ab_user ON ab_user.id = expert.user_id
    LEFT JOIN user_session ON {_pg(access.session_open(AppUser.id))}
    LEFT JOIN lesson ON lesson.id = :lesson_id AND lesson.course_id = course.id
    WHERE enrollment.id = :enrollment_id AND {_pg(access.expert_owned_by(bindparam("user_id")))}
      AND {_pg(access.study_window_open(bindparam("now")))}
    FOR UPDATE OF enrollment
), judged AS (
    SELECT beat.*,
           beat.session_id IS NOT NULL AND beat.in_limits AND beat.usable
           AND (NOT :lesson_given OR beat.lesson_found IS NOT NULL) AS ok,
           GREATEST(0, LEAST(
               CASE WHEN :visible AND :now - beat.last_beat_at > interval '0'
                         AND :now - beat.last_beat_at <= :max_gap
                    THEN CAST(floor(extract(epoch FROM :now - beat.last_beat_at)) AS INTEGER)
                    ELSE 0 END,
               beat.required_minutes * 60 - beat.credited_seconds)) AS credit
    FROM beat
), touched AS (
    UPDATE user_session SET last_seen_at = :now FROM judged
    WHERE user_session.id = judged.session_id AND judged.ok
      AND :now - judged.last_seen_at > :touch_every
), recorded AS (
    UPDATE enrollment SET credited_seconds = enrollment.credited_seconds + judged.credit,
           last_beat_at = :beat_at,
           resume_lesson_id = CASE WHEN :lesson_given THEN :lesson_id
                                   ELSE enrollment.resume_lesson_id END,
           resume_position = CASE WHEN :lesson_given THEN :position
                                  ELSE enrollment.resume_position END
    FROM judged WHERE enrollment.id = judged.enrollment_id AND judged.ok
    RETURNING judged.credit
)
SELECT judged.last_beat_at, judged.credited_seconds, judged.required_minutes,
       judged.lesson_found, judged.session_id, judged.created_at, judged.last_seen_at,
       judged.active, judged.must_change_password, recorded.credit
FROM judged LEFT JOIN recorded ON true
""").bindparams(bindparam("lesson_id", type_=Integer), bindparam("beat_at", type_=DateTime),
                bindparam("now", type_=DateTime), bindparam("position", type_=Integer),
                bindparam("created_after", type_=DateTime),
                bindparam("idle_after", type_=DateTime))


def beat_for_user(conn: Any, enrollment_id: int, user_id: int, token: str | None,
                  lesson_id: int | None, position: float, visible: bool, now: dt.datetime,
                  limits: access.SessionLimits = access.DEFAULT_LIMITS,
                  one_statement: bool = False) -> tuple[int, int] | None:
    """The heartbeat's whole work, in Core statements on ``conn`` (a Connection, the
    request's ``SessionStatements`` or, on PostgreSQL, the front's autocommit connection;
    its owner commits): one query that checks the server-side session (open, within its
    limits), the account (active, password changed), the ownership rule (the enrolment
    belongs to this account), the open study window and the lesson's course; then one
    conditional UPDATE (and, once a minute, the session's last_seen_at).
    None when the enrolment is not this account's open one (404); BeatRefused for the
    session or the password (an expired session is ended first: the caller commits that
    too). Returns (seconds, 学习进度 %).
    ``one_statement`` (PostgreSQL): all of it in _BEAT_ONE_STATEMENT, which writes only when
    every check below passes; the checks are still made here, on what it read."""
    if not token:
        raise BeatRefused(access.SESSION_MISSING, status=401)
    params = {"enrollment_id": enrollment_id, "user_id": user_id, "lesson_id": lesson_id or 0,
              "token_hash": sessions.token_hash(token), "now": now}
    position = max(0, int(position or 0))
    if one_statement:
        session_values = access.session_params(token, now, limits)
        params |= {"lesson_given": lesson_id is not None, "visible": visible,
                   "beat_at": now if visible else None, "position": position,
                   "created_after": session_values["created_after"],
                   "idle_after": session_values["idle_after"],
                   "touch_every": sessions.TOUCH_EVERY, "max_gap": MAX_GAP}
        row = conn.execute(_BEAT_ONE_STATEMENT, params).first()
    else:
        row = conn.execute(_BEAT_QUERY, params).first()
    if row is None:
        return None
    last, credited, minutes, lesson_found, session_id, created, seen, active, must_change = row[:9]
    if session_id is None:
        raise BeatRefused(access.SESSION_GONE, status=401)
    refused = access.account_refusal(active, False)
    if refused is not None:
        raise BeatRefused(refused[1], status=refused[0])
    limit = access.session_limit_reached(created, seen, now, limits)
    if limit is not None:
        conn.execute(_END, {"session_id": session_id, "now": now, "reason": limit[0]})
        raise BeatRefused(limit[1], status=401)
    refused = access.account_refusal(active, must_change)
    if refused is not None:
        raise BeatRefused(refused[1], status=refused[0])
    if lesson_id is not None and lesson_found is None:
        return None
    required = minutes * 60
    if one_statement:
        credit = row[9] or 0  # written in the same statement
    else:
        if access.session_needs_touch(seen, now):
            conn.execute(_TOUCH, {"session_id": session_id, "now": now})
        credit = credit_for(last, visible, now, credited, required)
        credit = _record(conn, enrollment_id, last, credit, lesson_id, position, visible, now)
    return credit, min(100, math.floor((credited + credit) * 100 / max(1, required)))


class SessionStatements:
    """``beat_for_user``'s statements on the request's ORM session (the app's own route):
    they join its unit of work, and the request's one commit writes them."""

    def __init__(self, session: Session):
        self.session = session

    def execute(self, statement, params: dict):
        # the UPDATEs name rows by id: nothing in the session to synchronise
        return self.session.execute(statement, params,
                                    execution_options={"synchronize_session": False})
