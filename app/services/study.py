"""Study time, counted on the server from heartbeats (about every 30 s).

Time is credited only while the lesson is open and visible, never more than the real
time elapsed since the previous heartbeat that counted, and never from the reported
position (seeking ahead earns nothing). 学习进度 = credited time / the course's time.
"""
from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import Enrollment, Lesson

HEARTBEAT_SECONDS = 30
# A gap longer than this means the page was closed (or the computer slept): not credited.
MAX_GAP = dt.timedelta(seconds=HEARTBEAT_SECONDS * 2 + 15)


def progress_percent(enrollment: Enrollment) -> int:
    required = max(1, enrollment.course.required_minutes * 60)
    return min(100, math.floor(enrollment.credited_seconds * 100 / required))


def heartbeat(session: Session, enrollment: Enrollment, lesson: Lesson | None, position: float,
              visible: bool, now: dt.datetime) -> int:
    """Record a heartbeat; returns the seconds credited by it (0 when nothing counts)."""
    credit = 0
    last = enrollment.last_beat_at
    if visible and last is not None and dt.timedelta(0) < now - last <= MAX_GAP:
        credit = int((now - last).total_seconds())
    required = enrollment.course.required_minutes * 60
    credit = max(0, min(credit, required - enrollment.credited_seconds))
    values = {"last_beat_at": now if visible else None}
    if lesson is not None:
        values["resume_lesson_id"] = lesson.id
        values["resume_position"] = max(0, int(position or 0))
    # one UPDATE, conditional on the beat it follows: two tabs beating at once count once
    result = session.execute(
        update(Enrollment)
        .where(Enrollment.id == enrollment.id,
               Enrollment.last_beat_at.is_(None) if last is None else Enrollment.last_beat_at == last)
        .values(credited_seconds=Enrollment.credited_seconds + credit, **values)
        .execution_options(synchronize_session=False))
    session.commit()
    return credit if result.rowcount == 1 else 0
