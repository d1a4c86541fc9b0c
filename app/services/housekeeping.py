"""Periodic clean-up (celery beat, every CELERY_CLEANUP_EVERY seconds):

* captcha answers past their time are deleted (the login form deletes them only when a
  new captcha is drawn, so a quiet night leaves them);
* server-side sessions past their limits are ended with the reason the login check gives
  (``sessions.limit_reached``), so the list of open sessions is true without a visit;
* 导出任务 older than EXPORT_KEEP_DAYS days are removed with their files.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from app.models import LoginCaptcha, UserSession, utcnow
from app.services import export_jobs, jobs, unit_of_work

TASK_CLEANUP = "housekeeping.cleanup"


def cleanup(session: Session, now: dt.datetime, *, idle: dt.timedelta,
            absolute: dt.timedelta) -> dict[str, int]:
    """Flushes. (what was removed or ended, by kind)."""
    captchas = session.execute(delete(LoginCaptcha).where(LoginCaptcha.expires_at <= now)
                               .execution_options(synchronize_session=False)).rowcount
    open_ = UserSession.ended_at.is_(None)
    too_old = session.execute(
        update(UserSession).where(open_, UserSession.created_at < now - absolute)
        .values(ended_at=now, end_reason="超过12小时")
        .execution_options(synchronize_session=False)).rowcount
    idle_ = session.execute(
        update(UserSession).where(open_, UserSession.last_seen_at < now - idle)
        .values(ended_at=now, end_reason="闲置超时")
        .execution_options(synchronize_session=False)).rowcount
    return {"captchas": captchas, "sessions": too_old + idle_}


@jobs.job(TASK_CLEANUP)
def cleanup_job(session: Session, cfg: Any) -> dict[str, int]:
    done = cleanup(session, utcnow(), idle=dt.timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]),
                   absolute=dt.timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"]))
    done["exports"] = export_jobs.remove_old(session, cfg["UPLOAD_FOLDER"], utcnow(),
                                             dt.timedelta(days=cfg["EXPORT_KEEP_DAYS"]))
    unit_of_work.commit(session)
    return done
