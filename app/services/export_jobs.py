"""导出任务: an 导出 Excel too big for one request, built on the Celery worker.

* ``queue_export`` adds the job (排队中) with the list's view name and query string and a
  run key, and sends the task ``exports.build`` once the request has committed.
* The task (``build_job``) asks the row source (the views layer registers it with
  ``set_row_source``: it rebuilds the list's filtered query from the stored query string)
  for the header and rows, commits its progress every EXPORT_PROGRESS_EVERY rows and writes
  the file under UPLOAD_FOLDER/exports with a name made of the job's id and run key: a
  message delivered twice writes the same one file, and a job already 已完成 is left alone.
* Only the person who asked (or 管理员) finds the job (``own_job``: anyone else gets 404).
* The periodic clean-up removes files and jobs older than EXPORT_KEEP_DAYS days.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import MAX_DB_INT, ExportJob, ExportStatus, utcnow
from app.services import jobs, unit_of_work
from app.services.errors import NotFound
from app.services.export import xlsx
from app.services.roles import ROLE_ADMIN

TASK_EXPORT = "exports.build"
EXPORT_DIR = "exports"

# (session, job) → a context giving (sheet title, header, total rows, rows)
RowSource = Callable[[Session, ExportJob],
                     AbstractContextManager[tuple[str, Sequence[str], int, Iterable[Sequence[Any]]]]]
_source: list[RowSource] = []


def set_row_source(source: RowSource) -> None:
    """The views layer says how a job's rows are made (services do not know the views)."""
    _source[:] = [source]


def export_path(upload_dir: str | Path, stored_name: str) -> Path:
    return Path(upload_dir) / EXPORT_DIR / stored_name


def queue_export(session: Session, *, user_id: int, view_name: str, title: str,
                 query_string: str, total: int,
                 on_failure: Callable[[str], None] | None = None) -> ExportJob:
    """A queued export; its task is sent once the session commits. Flushes."""
    job = ExportJob(user_id=user_id, view_name=view_name[:100], title=title[:100],
                    query_string=query_string, status=ExportStatus.QUEUED.value, total=total,
                    done=0, task_id=uuid.uuid4().hex, created_at=utcnow())
    session.add(job)
    session.flush()
    jobs.send_after_commit(session, TASK_EXPORT, job.id, job.task_id,
                           task_id=f"export-{job.id}-{job.task_id}", on_failure=on_failure)
    return job


def own_job(session: Session, user: Any, job_id: Any) -> ExportJob:
    """The job, if ``user`` asked for it or is 管理员; NotFound otherwise (as if absent)."""
    usable = isinstance(job_id, int) and 0 < job_id <= MAX_DB_INT
    job = session.get(ExportJob, job_id) if usable else None
    if job is None:
        raise NotFound()
    is_admin = any(role.name == ROLE_ADMIN for role in getattr(user, "roles", []))
    if job.user_id != getattr(user, "id", None) and not is_admin:
        raise NotFound()
    return job


def jobs_of(session: Session, user_id: int, limit: int = 50) -> list[ExportJob]:
    return list(session.execute(select(ExportJob).where(ExportJob.user_id == user_id)
                                .order_by(ExportJob.id.desc()).limit(limit)).scalars())


def progress_percent(job: ExportJob) -> int:
    if job.is_done:
        return 100
    if not job.total:
        return 0
    return min(99, job.done * 100 // job.total)


def status_json(job: ExportJob, download_url: str | None) -> dict[str, Any]:
    """What the progress bar polls."""
    return {"status": job.status, "total": job.total, "done": job.done,
            "percent": progress_percent(job), "finished": not job.is_active,
            "error": job.error or "", "download_url": download_url if job.is_done else None}


def _counted(session: Session, job: ExportJob, rows: Iterable[Sequence[Any]],
             every: int) -> Iterator[Sequence[Any]]:
    for row in rows:
        yield row
        job.done += 1
        if job.done % every == 0:
            unit_of_work.commit(session)


def _failed(session: Session, cfg: Any, exc: BaseException, job_id: int, key: str) -> None:
    job = session.get(ExportJob, job_id)
    if job is not None and job.task_id == key and not job.is_done:
        job.status, job.finished_at = ExportStatus.FAILED.value, utcnow()
        job.error = f"导出失败：{type(exc).__name__}"


def _unsent(session: Session, job_id: int, key: str) -> None:
    job = session.get(ExportJob, job_id)
    if job is not None and job.task_id == key:
        job.status, job.finished_at = ExportStatus.FAILED.value, utcnow()
        job.error = jobs.QUEUE_DOWN


@jobs.job(TASK_EXPORT, inline_setting="EXPORT_JOB_INLINE", on_error=_failed, on_unsent=_unsent)
def build_job(session: Session, cfg: Any, job_id: int, key: str) -> int:
    """The export task: the rows of the list as filtered when it was asked, into one file.
    Returns the rows written (0 when there was nothing to do)."""
    job = session.get(ExportJob, job_id)
    if job is None or job.task_id != key or not job.is_active:
        return 0
    job.status, job.done = ExportStatus.RUNNING.value, 0
    unit_of_work.commit(session)
    with _source[0](session, job) as (title, header, total, rows):
        job.total = min(total, cfg["EXPORT_MAX_ROWS"])
        unit_of_work.commit(session)
        data = xlsx([(title, header, _counted(session, job, rows,
                                              max(1, cfg["EXPORT_PROGRESS_EVERY"])))])
    stored_name = f"{job.id}-{key}.xlsx"
    path = export_path(cfg["UPLOAD_FOLDER"], stored_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)  # whole or not at all: a second run writes over the same name
    job.stored_name, job.total = stored_name, job.done
    job.status, job.finished_at = ExportStatus.DONE.value, utcnow()
    unit_of_work.commit(session)
    return job.done


def remove_old(session: Session, upload_dir: str | Path, now: dt.datetime,
               keep: dt.timedelta) -> int:
    """Exports older than ``keep``: their files and rows. Flushes."""
    old = list(session.execute(select(ExportJob).where(ExportJob.created_at < now - keep))
               .scalars())
    for job in old:
        if job.stored_name:
            export_path(upload_dir, job.stored_name).unlink(missing_ok=True)
        session.delete(job)
    session.flush()
    return len(old)
