"""Background jobs: what the Celery tasks run, and how the app hands work to them.

* A job is a plain service function ``fn(session, cfg, *args)`` registered under the name
  of its Celery task (``@job("certificates.run_part")``); the task wrappers in app/tasks.py
  only call ``run(name, *args)``, which gives the job its own session and config, so the
  same function runs on the worker, inline (tests, the command line) and in a benchmark.
  A job commits its own work through ``unit_of_work.commit`` (per part, for progress).
* ``send_after_commit``: work handed over by a request is sent to the broker only once the
  request's rows are committed (so the worker finds them), and not at all when the request
  failed. When the broker cannot be reached the job's ``on_unsent`` hook undoes what was
  promised (a batch is not left 排队中) and the caller's ``on_failure`` tells the person.
* Inline (``JOBS_INLINE`` callable true, e.g. CERTIFICATE_BATCH_INLINE in tests): the job
  runs in the sending process, right away, in a session of its own.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from kombu.exceptions import OperationalError as BrokerUnavailable
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import celery, db
from app.services import settings, unit_of_work
from app.services.errors import DomainError

log = logging.getLogger(__name__)
_PENDING = "jobs.after_commit"
QUEUE_DOWN = "任务队列（Redis）暂时无法连接，本次任务未能开始，请稍后再试"


class JobNotSent(DomainError):
    """The broker did not take the job."""

    status = 503

    def __init__(self, message: str = QUEUE_DOWN, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class Job:
    name: str
    fn: Callable[..., Any]
    # called (session, cfg, exc, *args) after the job raised for good: record the failure
    on_error: Callable[..., None] | None = None
    # called (session, *args) when the job could not be sent: withdraw what was promised
    on_unsent: Callable[..., None] | None = None
    inline_setting: str | None = None  # config key that runs this job in the sender


JOBS: dict[str, Job] = {}


def job(name: str, *, on_error=None, on_unsent=None, inline_setting: str | None = None):
    def register(fn):
        JOBS[name] = Job(name, fn, on_error, on_unsent, inline_setting)
        return fn
    return register


def _own_session() -> Session:
    """A session of the job's own: inline jobs run while the sender's session is between
    transactions (inside its after_commit), where that one may not be used."""
    return Session(db.engine, expire_on_commit=False)


def run(name: str, *args: Any) -> Any:
    """Run a registered job in its own session (the Celery task's body). Rolls back and
    re-raises on error; ``fail`` records the failure once the task gives up."""
    found = JOBS[name]
    with _own_session() as session:
        try:
            return found.fn(session, settings.snapshot(session, current_app.config), *args)
        except BaseException:
            unit_of_work.rollback(session)
            raise


def fail(name: str, exc: BaseException, *args: Any) -> None:
    """The task gave up (an error, its time limit, retries spent): the job says so."""
    found = JOBS[name]
    if found.on_error is None:
        return
    with _own_session() as session:
        try:
            found.on_error(session, current_app.config, exc, *args)
            unit_of_work.commit(session)
        except Exception:  # the database itself is gone: the log is all that is left
            log.exception("job %s: the failure could not be recorded", name)


def _inline(found: Job) -> bool:
    return bool(found.inline_setting and current_app.config.get(found.inline_setting))


def send(name: str, *args: Any, task_id: str | None = None) -> None:
    """Hand the job to the worker now (or run it here when inline). ``task_id``: the
    message's id, the job's idempotency key where the job checks it."""
    found = JOBS[name]
    if _inline(found):
        try:
            run(name, *args)
        except Exception as exc:
            fail(name, exc, *args)
            raise
        return
    try:
        # the job writes its state in the database: no result is kept (nor waited for)
        celery.send_task(name, args=list(args), task_id=task_id, ignore_result=True)
    except (BrokerUnavailable, OSError) as exc:
        log.error("job %s not sent: %s", name, exc)
        raise JobNotSent() from exc


def send_after_commit(session: Session, name: str, *args: Any, task_id: str | None = None,
                      on_failure: Callable[[str], None] | None = None) -> None:
    """``send`` once this session's transaction is committed; dropped if it rolls back.
    If sending fails, the job's ``on_unsent`` runs (in a session of its own) and then
    ``on_failure(message)`` (e.g. a flash for the person)."""
    session.info.setdefault(_PENDING, []).append((name, args, task_id, on_failure))


def _send_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    for name, args, task_id, on_failure in pending:
        try:
            send(name, *args, task_id=task_id)
        except JobNotSent as exc:
            found = JOBS[name]
            if found.on_unsent is not None:
                with _own_session() as own:
                    found.on_unsent(own, *args)
                    unit_of_work.commit(own)
            if on_failure is not None:
                on_failure(exc.message)
        except Exception as exc:  # an inline job failed: it recorded its failure itself
            log.exception("inline job %s failed", name)
            if on_failure is not None:
                on_failure(f"任务未能完成：{type(exc).__name__}")


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


if not event.contains(Session, "after_commit", _send_pending):
    event.listen(Session, "after_commit", _send_pending)
    event.listen(Session, "after_rollback", _drop_pending)
