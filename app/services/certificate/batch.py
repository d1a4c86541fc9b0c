"""整批发放: a whole round issued as a batch, on the Celery worker.

* ``start_batch`` queues a batch (排队中) with a run key (``task_id``) and sends the plan
  task once the request has committed; if the broker cannot be reached the batch is marked
  失败 at once (the round is not blocked) and the person is told.
* The plan task (``certificates.plan_batch``) lists the experts to issue (eligible, no valid
  certificate yet), cuts them into parts of CERTIFICATE_BATCH_PART experts
  (``CertificateBatchPart``), marks the batch 进行中 and sends a task per part, so every
  worker process shares the batch.
* A part task (``certificates.run_part``) issues its experts through the one issuing path
  (``issuing.issue_many``), then, in the same transaction, marks its part finished (only if
  nobody finished it first), adds its counts to the batch and, when it was the last part,
  marks the batch 已完成. A worker killed mid-part committed nothing of it: the message is
  unacknowledged (acks_late) and another worker redoes the part; a part redelivered after
  it finished does nothing. No certificate is issued twice (the partial unique index), and
  the counts are each part's, once.
* Messages carry the batch's run key: after 取消 (已取消) or a 重新发放 (a new key) the old
  run's messages find a key that is not theirs and do nothing.
* The batch's state is what its tasks wrote: nothing is guessed from the clock.
"""
from __future__ import annotations

import datetime as dt
import multiprocessing
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models import (
    Certificate,
    CertificateBatch,
    CertificateBatchPart,
    Expert,
    TrainingRound,
    beijing_today,
    utcnow,
)
from app.services import audit, jobs, unit_of_work, uploads
from app.services.audit import Action, Actor
from app.services.certificate.common import (
    CANCELLED,
    FAILED,
    FINISHED,
    QUEUED,
    REVOKED,
    RUNNING,
    VALID,
    CertificateError,
)
from app.services.certificate.eligibility import (
    Eligibility,
    _passed_and_paid,
    _round_courses,
    eligible_expert_ids,
    hours_for,
)
from app.services.certificate.issuing import RenderMany, _render_and_write, issue_many
from app.services.certificate.rendering import CertificateText, RenderSettings, settings_from

TASK_PLAN = "certificates.plan_batch"
TASK_PART = "certificates.run_part"
ACTIVE = (QUEUED, RUNNING)
MAX_ERRORS = 5  # per part, in the batch's message


def active_batch(session: Session, round_id: int,
                 now: dt.datetime | None = None) -> CertificateBatch | None:
    """The round's batch still 排队中 or 进行中, as its tasks last wrote it."""
    return session.execute(select(CertificateBatch).where(
        CertificateBatch.round_id == round_id, CertificateBatch.status.in_(ACTIVE))
        .order_by(CertificateBatch.id.desc())).scalars().first()


def _enqueue(session: Session, batch: CertificateBatch, base_url: str,
             on_failure: Callable[[str], None] | None) -> None:
    batch.task_id = uuid.uuid4().hex
    jobs.send_after_commit(session, TASK_PLAN, batch.id, batch.task_id, base_url,
                           task_id=f"plan-{batch.id}-{batch.task_id}", on_failure=on_failure)


def start_batch(session: Session, rnd: TrainingRound, *, actor: Actor, now: dt.datetime,
                base_url: str | None = None,
                on_failure: Callable[[str], None] | None = None) -> tuple[CertificateBatch, bool]:
    """整批发放: a queued batch for the round, or the one already queued or running.
    (batch, True when this call queued it). Flushes. With ``base_url`` (the QR code's
    server) the plan task is sent once the session commits; without it the caller runs
    the batch itself (``run_batch``, the command line)."""
    running = active_batch(session, rnd.id)
    if running is not None:
        return running, False
    batch = CertificateBatch(round_id=rnd.id, requested_by_id=actor.id, created_at=now,
                             status=QUEUED, total=0, done=0, failed=0)
    session.add(batch)
    session.flush()
    audit.record(session, Action.CERTIFICATE_BATCH, actor=actor, object_type="证书发放批次",
                 object_id=batch.id, detail=rnd.name)
    if base_url is not None:
        _enqueue(session, batch, base_url, on_failure)
    return batch, True


def cancel_batch(session: Session, batch: CertificateBatch, *, actor: Actor,
                 now: dt.datetime) -> None:
    """取消: the parts not yet run do nothing; a part running finishes its few experts
    (their certificates are real and counted). Flushes."""
    changed = session.execute(
        update(CertificateBatch).where(CertificateBatch.id == batch.id,
                                       CertificateBatch.status.in_(ACTIVE))
        .values(status=CANCELLED, finished_at=now,
                message=func.coalesce(CertificateBatch.message, "") + "；已取消")
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise CertificateError("该发放批次已结束，无需取消")
    session.refresh(batch)
    audit.record(session, Action.CERTIFICATE_BATCH, actor=actor, object_type="证书发放批次",
                 object_id=batch.id, detail=f"取消：{batch.round.name}")


def retry_batch(session: Session, batch: CertificateBatch, *, actor: Actor, now: dt.datetime,
                base_url: str, on_failure: Callable[[str], None] | None = None) -> None:
    """重新发放 a 失败 or 已取消 batch: the parts not finished run again under a new run key
    (a batch that failed before its plan is planned again). Flushes."""
    if not batch.can_retry:
        raise CertificateError("只有失败或已取消的发放批次可以重新发放")
    other = active_batch(session, batch.round_id)
    if other is not None:
        raise CertificateError(f"该培训批次正在发放中（发放批次 {other.id}），请等待其完成")
    batch.status, batch.finished_at = QUEUED, None
    batch.message = (batch.message or "") + "；重新发放"
    _enqueue(session, batch, base_url, on_failure)
    session.flush()
    audit.record(session, Action.CERTIFICATE_BATCH, actor=actor, object_type="证书发放批次",
                 object_id=batch.id, detail=f"重新发放：{batch.round.name}")


def progress_percent(batch: CertificateBatch) -> int:
    if batch.status == FINISHED:
        return 100
    if not batch.total:
        return 0
    return min(100, (batch.done + batch.failed) * 100 // batch.total)


def status_json(batch: CertificateBatch) -> dict[str, Any]:
    """What the progress bar polls."""
    return {"status": batch.status, "total": batch.total, "done": batch.done,
            "failed": batch.failed, "percent": progress_percent(batch),
            "message": batch.message or "", "finished": batch.is_finished,
            "can_cancel": batch.is_active, "can_retry": batch.can_retry}


# ---------------------------------------------------------------- running


@dataclass
class BatchResult:
    issued: int = 0
    skipped: int = 0  # already had a valid certificate
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _current(session: Session, batch_id: int, key: str | None) -> CertificateBatch | None:
    """The batch, if this run (``key``) is still the one owed to it and it is not over."""
    batch = session.get(CertificateBatch, batch_id)
    if batch is None or batch.status not in ACTIVE or (key is not None and batch.task_id != key):
        return None
    return batch


def _plan(session: Session, batch: CertificateBatch, *, part_size: int,
          clock: Callable[[], dt.datetime]) -> list[CertificateBatchPart]:
    """The parts still to run: planned now (the first time) or those left unfinished."""
    if batch.parts:
        if batch.status == QUEUED:
            batch.status = RUNNING
        return [p for p in batch.parts if p.finished_at is None]
    rnd = batch.round
    eligible = eligible_expert_ids(session, rnd)
    have = set(session.execute(select(Certificate.expert_id).where(
        Certificate.round_id == rnd.id, Certificate.status == VALID)).scalars())
    todo = [e for e in eligible if e not in have]
    batch.status, batch.started_at = RUNNING, clock()
    batch.total = len(todo)
    batch.message = (f"合格并已缴费 {len(eligible)} 人，已有有效证书 {len(have)} 人，"
                     f"本次发放 {len(todo)} 人")
    parts = [CertificateBatchPart(batch=batch, seq=i // part_size, done=0, skipped=0, failed=0,
                                  expert_ids=",".join(map(str, todo[i:i + part_size])))
             for i in range(0, len(todo), part_size)]
    session.add_all(parts)
    if not parts:
        _finish(session, batch, clock())
    session.flush()
    return parts


def _finish(session: Session, batch: CertificateBatch, now: dt.datetime) -> None:
    totals = session.execute(select(
        func.coalesce(func.sum(CertificateBatchPart.done), 0),
        func.coalesce(func.sum(CertificateBatchPart.skipped), 0),
        func.coalesce(func.sum(CertificateBatchPart.failed), 0))
        .where(CertificateBatchPart.batch_id == batch.id)).one()
    done, skipped, failed = (int(v) for v in totals)
    message = (f"；已发放 {done - skipped} 张"
               + (f"，已有证书跳过 {skipped} 人" if skipped else "")
               + (f"，失败 {failed} 人" if failed else ""))
    changed = session.execute(
        update(CertificateBatch).where(CertificateBatch.id == batch.id,
                                       CertificateBatch.status == RUNNING)
        .values(status=FINISHED, finished_at=now,
                message=func.coalesce(CertificateBatch.message, "") + message)
        .execution_options(synchronize_session=False)).rowcount
    if changed:
        session.refresh(batch)
        audit.record(session, Action.CERTIFICATE_BATCH, actor=audit.SYSTEM,
                     object_type="证书发放批次", object_id=batch.id,
                     detail=(batch.message or "")[:2000])


def _run_part(session: Session, batch: CertificateBatch, part: CertificateBatchPart, *,
              render_many: RenderMany, upload_dir: str | Path, today: dt.date,
              minutes_per_hour: int, clock: Callable[[], dt.datetime]) -> BatchResult | None:
    """Issue one part and record it, in the caller's transaction (the caller commits).
    None: another run finished this part first (nothing of ours is kept)."""
    rnd = batch.round
    ids = [int(i) for i in part.expert_ids.split(",") if i]
    minutes = _round_courses(session, [rnd.id]).get(rnd.id, {"minutes": 0})["minutes"]
    hours = hours_for(minutes, minutes_per_hour)
    passed = _passed_and_paid(session, [rnd.id], ids)
    experts = session.execute(select(Expert).where(Expert.id.in_(ids)).order_by(Expert.id)
                              ).scalars().all()
    candidates = [(e, Eligibility(rnd.id, passed[(e.id, rnd.id)]["last"][1], hours))
                  for e in experts if (e.id, rnd.id) in passed]
    now = clock()
    done = issue_many(session, rnd, candidates, render_many=render_many, upload_dir=upload_dir,
                      today=today, now=now, actor_id=batch.requested_by_id)
    result = BatchResult(len(done.issued), len(done.skipped), len(done.failed),
                         [f"{e.name}（{e.expert_no}）：{err}" for e, err in done.failed])
    claimed = session.execute(
        update(CertificateBatchPart).where(CertificateBatchPart.id == part.id,
                                           CertificateBatchPart.finished_at.is_(None))
        .values(finished_at=now, done=result.issued + result.skipped, skipped=result.skipped,
                failed=result.failed)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:  # our rows are rolled back by the caller: no row will name our files
        for _, cert in done.issued:
            for kept in (cert.pdf_file, cert.png_file):
                uploads.stored_path(upload_dir, kept.stored_name).unlink(missing_ok=True)
        return None
    errors = ("；失败：" + "；".join(result.errors[:MAX_ERRORS])) if result.errors else ""
    # one UPDATE adds to the counters: two parts finishing together are both counted
    session.execute(
        update(CertificateBatch).where(CertificateBatch.id == batch.id)
        .values(done=CertificateBatch.done + result.issued + result.skipped,
                failed=CertificateBatch.failed + result.failed, heartbeat_at=now,
                message=func.coalesce(CertificateBatch.message, "") + errors)
        .execution_options(synchronize_session=False))
    left = session.execute(select(func.count()).select_from(CertificateBatchPart).where(
        CertificateBatchPart.batch_id == batch.id,
        CertificateBatchPart.finished_at.is_(None))).scalar_one()
    if left == 0:
        _finish(session, batch, clock())
    return result


# Worker processes of the command line's pool: settings given once, then only texts pass.
_worker: dict = {}


def _worker_init(settings: RenderSettings, upload_dir: str) -> None:
    _worker["settings"], _worker["upload_dir"] = settings, upload_dir


def _worker_render(text: CertificateText):
    try:
        return text.number, _render_and_write(text, _worker["settings"], _worker["upload_dir"]), None
    except Exception as exc:  # reported per certificate, the batch goes on
        return text.number, None, f"{type(exc).__name__}: {exc}"


def render_each(settings: RenderSettings, upload_dir: str | Path) -> RenderMany:
    """Render in this process, an error reported per certificate (the batch goes on)."""
    _worker_init(settings, str(upload_dir))
    return lambda texts: map(_worker_render, texts)


def _settings(cfg: Any, base_url: str | None) -> RenderSettings:
    return settings_from(cfg, base_url)


@jobs.job(TASK_PLAN, inline_setting="CERTIFICATE_BATCH_INLINE",
          on_error=lambda session, cfg, exc, batch_id, key, base_url: fail_batch(
              session, batch_id, key, exc),
          on_unsent=lambda session, batch_id, key, base_url: not_sent(session, batch_id, key))
def plan_job(session: Session, cfg: Any, batch_id: int, key: str, base_url: str) -> int:
    """The plan task: parts planned (or the unfinished ones found again), one task each."""
    batch = _current(session, batch_id, key)
    if batch is None:
        return 0
    parts = _plan(session, batch, part_size=max(1, cfg["CERTIFICATE_BATCH_PART"]), clock=utcnow)
    ids = [p.id for p in parts]
    unit_of_work.commit(session)
    for part_id in ids:
        jobs.send(TASK_PART, batch_id, part_id, key, base_url,
                  task_id=f"part-{batch_id}-{part_id}-{key}")
    return len(ids)


@jobs.job(TASK_PART, inline_setting="CERTIFICATE_BATCH_INLINE",
          on_error=lambda session, cfg, exc, batch_id, part_id, key, base_url: fail_batch(
              session, batch_id, key, exc))
def part_job(session: Session, cfg: Any, batch_id: int, part_id: int, key: str,
             base_url: str) -> int:
    """A part task: its experts issued and counted once; the last part ends the batch."""
    batch = _current(session, batch_id, key)
    part = session.get(CertificateBatchPart, part_id)
    if batch is None or part is None or part.batch_id != batch_id or part.finished_at:
        return 0
    result = _run_part(session, batch, part, render_many=render_each(_settings(cfg, base_url),
                                                                     cfg["UPLOAD_FOLDER"]),
                       upload_dir=cfg["UPLOAD_FOLDER"], today=beijing_today(),
                       minutes_per_hour=cfg["CERTIFICATE_MINUTES_PER_HOUR"], clock=utcnow)
    if result is None:
        unit_of_work.rollback(session)
        return 0
    unit_of_work.commit(session)
    return result.issued


def fail_batch(session: Session, batch_id: int, key: str | None, exc: BaseException) -> None:
    """A task gave up: the batch is 失败 (its finished parts stay counted; 重新发放 runs the
    rest). Flushes."""
    session.execute(
        update(CertificateBatch).where(CertificateBatch.id == batch_id,
                                       CertificateBatch.status.in_(ACTIVE),
                                       *([CertificateBatch.task_id == key] if key else []))
        .values(status=FAILED, finished_at=utcnow(),
                message=func.coalesce(CertificateBatch.message, "")
                + f"；发放中断：{type(exc).__name__}: {exc}"[:500])
        .execution_options(synchronize_session=False))


def not_sent(session: Session, batch_id: int, key: str) -> None:
    """The broker did not take the plan task: the batch must not stay 排队中."""
    session.execute(
        update(CertificateBatch).where(CertificateBatch.id == batch_id,
                                       CertificateBatch.task_id == key,
                                       CertificateBatch.status == QUEUED)
        .values(status=FAILED, finished_at=utcnow(),
                message=func.coalesce(CertificateBatch.message, "") + "；" + jobs.QUEUE_DOWN)
        .execution_options(synchronize_session=False))


def run_batch(session: Session, batch_id: int, *, settings: RenderSettings,
              upload_dir: str | Path, today: dt.date, processes: int = 1, chunk: int = 100,
              minutes_per_hour: int = 45, actor: Actor | None = None,
              clock: Callable[[], dt.datetime] = utcnow) -> BatchResult:
    """The command line's runner: the same plan and parts as the worker's, run here one
    part after another (rendered by ``processes`` processes), each part committed.
    Idempotent: run again, it issues nothing new."""
    batch = session.get(CertificateBatch, batch_id)
    if batch is None:
        raise CertificateError("发放批次不存在")
    if batch.status not in ACTIVE:
        batch.status, batch.finished_at = QUEUED, None  # a 失败/已取消 batch resumed here
    batch.task_id = None  # no worker message is this run's
    result = BatchResult()
    pool = None
    try:
        parts = _plan(session, batch, part_size=max(1, chunk), clock=clock)
        unit_of_work.commit(session)
        if processes > 1 and batch.total > 2 * processes:
            # spawn: the workers start clean (no copy of this process's database connections)
            pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_worker_init,
                                       initargs=(settings, str(upload_dir)))
            render_many = lambda texts: pool.map(_worker_render, texts, chunksize=4)  # noqa: E731
        else:
            render_many = render_each(settings, upload_dir)
        for part in parts:
            if _current(session, batch_id, None) is None:
                break  # cancelled meanwhile
            done = _run_part(session, batch, part, render_many=render_many,
                             upload_dir=upload_dir, today=today,
                             minutes_per_hour=minutes_per_hour, clock=clock)
            if done is None:
                unit_of_work.rollback(session)
                continue
            unit_of_work.commit(session)
            result.issued += done.issued
            result.skipped += done.skipped
            result.failed += done.failed
            result.errors.extend(done.errors[:MAX_ERRORS - len(result.errors)])
    except Exception as exc:
        unit_of_work.rollback(session)
        fail_batch(session, batch_id, None, exc)
        unit_of_work.commit(session)
        raise
    finally:
        if pool is not None:
            pool.shutdown()
    return result


def round_counts(session: Session, rnd: TrainingRound) -> dict[str, int]:
    """For the staff page: 合格并已缴费, 有效证书, 已撤销."""
    counts = dict(session.execute(select(Certificate.status, func.count()).where(
        Certificate.round_id == rnd.id).group_by(Certificate.status)).all())
    return {"eligible": len(eligible_expert_ids(session, rnd)), "valid": counts.get(VALID, 0),
            "revoked": counts.get(REVOKED, 0)}
