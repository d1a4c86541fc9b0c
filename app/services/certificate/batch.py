"""整批发放: a whole round issued as a batch."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.masking import mask_id_number
from app.models import (
    Certificate,
    CertificateBatch,
    Expert,
    TrainingRound,
    utcnow,
)
from app.services import audit
from app.services.audit import Action, Actor
from app.services.certificate.common import (
    BATCH_STALE_AFTER,
    FAILED,
    FINISHED,
    QUEUED,
    REVOKED,
    RUNNING,
    VALID,
    CertificateError,
)
from app.services.certificate.eligibility import (
    _passed_and_paid,
    _round_courses,
    eligible_expert_ids,
    hours_for,
)
from app.services.certificate.issuing import (
    _insert,
    _render_and_write,
)
from app.services.certificate.rendering import (
    CertificateText,
    RenderSettings,
    new_number,
)


def active_batch(session: Session, round_id: int, now: dt.datetime) -> CertificateBatch | None:
    return session.execute(select(CertificateBatch).where(
        CertificateBatch.round_id == round_id, CertificateBatch.status.in_((QUEUED, RUNNING)),
        CertificateBatch.created_at > now - BATCH_STALE_AFTER)
        .order_by(CertificateBatch.id.desc())).scalars().first()


def start_batch(session: Session, rnd: TrainingRound, *, actor: Actor,
                now: dt.datetime) -> tuple[CertificateBatch, bool]:
    """整批发放: a queued batch for the round, or the one already queued or running.
    (batch, True when this call queued it). Flushes."""
    running = active_batch(session, rnd.id, now)
    if running is not None:
        return running, False
    batch = CertificateBatch(round_id=rnd.id, requested_by_id=actor.id, created_at=now,
                             status=QUEUED, total=0, done=0, failed=0)
    session.add(batch)
    session.flush()
    audit.record(session, Action.CERTIFICATE_BATCH, actor=actor, object_type="证书发放批次",
                 object_id=batch.id, detail=rnd.name)
    return batch, True


def progress_percent(batch: CertificateBatch) -> int:
    if batch.status == FINISHED:
        return 100
    if not batch.total:
        return 0
    return min(100, (batch.done + batch.failed) * 100 // batch.total)


@dataclass
class _Job:
    cert_text: CertificateText
    owner_id: int | None
    expert_id: int
    enrollment_id: int


# Worker processes: settings given once, then only certificate texts pass between processes.
_worker: dict = {}


def _worker_init(settings: RenderSettings, upload_dir: str) -> None:
    _worker["settings"], _worker["upload_dir"] = settings, upload_dir


def _worker_render(text: CertificateText):
    try:
        return text.number, _render_and_write(text, _worker["settings"], _worker["upload_dir"]), None
    except Exception as exc:  # reported per certificate, the batch goes on
        return text.number, None, f"{type(exc).__name__}: {exc}"


@dataclass
class BatchResult:
    issued: int = 0
    skipped: int = 0  # already had a valid certificate
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def run_batch(session: Session, batch_id: int, *, settings: RenderSettings,
              upload_dir: str | Path, today: dt.date, processes: int = 1, chunk: int = 100,
              minutes_per_hour: int = 45, actor: Actor | None = None,
              clock: Callable[[], dt.datetime] = utcnow) -> BatchResult:
    """Runs a queued batch: every eligible expert of the round without a valid certificate
    gets one. Progress (total, done, failed) is committed every ``chunk`` certificates, so
    the staff page can show it. Idempotent: run again, it issues nothing new. Commits."""
    batch = session.get(CertificateBatch, batch_id)
    if batch is None:
        raise CertificateError("发放批次不存在")
    rnd = batch.round
    actor = actor or audit.SYSTEM
    result = BatchResult()
    batch.status, batch.started_at = RUNNING, clock()
    session.commit()
    pool = None
    try:
        eligible = eligible_expert_ids(session, rnd)
        have = set(session.execute(select(Certificate.expert_id).where(
            Certificate.round_id == rnd.id, Certificate.status == VALID)).scalars())
        todo = [e for e in eligible if e not in have]
        minutes = _round_courses(session, [rnd.id]).get(rnd.id, {"minutes": 0})["minutes"]
        hours = hours_for(minutes, minutes_per_hour)
        last_passed = _passed_and_paid(session, [rnd.id], todo) if todo else {}
        batch.total = len(todo)
        batch.message = (f"合格并已缴费 {len(eligible)} 人，已有有效证书 {len(have)} 人，"
                         f"本次发放 {len(todo)} 人")
        session.commit()
        if processes > 1 and len(todo) > 2 * processes:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: the workers start clean (no copy of this process's database connections)
            pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_worker_init,
                                       initargs=(settings, str(upload_dir)))
            render_many = lambda texts: pool.map(_worker_render, texts, chunksize=4)  # noqa: E731
        else:
            _worker_init(settings, str(upload_dir))
            render_many = lambda texts: map(_worker_render, texts)  # noqa: E731
        now = clock()
        for start in range(0, len(todo), chunk):
            ids = todo[start:start + chunk]
            experts = session.execute(select(
                Expert.id, Expert.name, Expert.expert_no, Expert.id_number, Expert.user_id)
                .where(Expert.id.in_(ids))).all()
            jobs = {}
            for expert_id, name, expert_no, id_number, user_id in experts:
                text = CertificateText(new_number(today), name, expert_no,
                                       mask_id_number(id_number), rnd.name, hours, today)
                jobs[text.number] = _Job(text, user_id, expert_id,
                                         last_passed[(expert_id, rnd.id)]["last"][1])
            for number, written, error in render_many([j.cert_text for j in jobs.values()]):
                job = jobs[number]
                if error is not None:
                    result.failed += 1
                    if len(result.errors) < 5:
                        result.errors.append(f"{job.cert_text.holder_name}（{job.cert_text.expert_no}）：{error}")
                    continue
                t = job.cert_text
                cert = Certificate(
                    number=t.number, expert_id=job.expert_id, round_id=rnd.id,
                    enrollment_id=job.enrollment_id, holder_name=t.holder_name,
                    expert_no=t.expert_no, id_number_masked=t.id_number_masked,
                    round_name=t.round_name, hours=t.hours, issued_on=t.issued_on, status=VALID,
                    created_at=now, created_by_id=batch.requested_by_id)
                if _insert(session, cert, job.owner_id, written, upload_dir):
                    result.issued += 1
                else:
                    result.skipped += 1
            batch.done, batch.failed = result.issued + result.skipped, result.failed
            session.commit()
        batch.status, batch.finished_at = FINISHED, clock()
        batch.message = (f"{batch.message}；已发放 {result.issued} 张"
                         + (f"，已有证书跳过 {result.skipped} 人" if result.skipped else "")
                         + (f"，失败 {result.failed} 人：" + "；".join(result.errors)
                            if result.failed else ""))
        audit.record(session, Action.CERTIFICATE_BATCH, actor=actor, object_type="证书发放批次",
                     object_id=batch.id, detail=batch.message[:2000])
        session.commit()
    except Exception as exc:
        session.rollback()
        batch = session.get(CertificateBatch, batch_id)
        batch.status, batch.finished_at = FAILED, clock()
        batch.message = f"发放中断：{type(exc).__name__}: {exc}"[:2000]
        session.commit()
        raise
    finally:
        if pool is not None:
            pool.shutdown()
    return result


def round_counts(session: Session, rnd: TrainingRound) -> dict[str, int]:
    """For the staff page: 合格并已缴费, 有效证书, 已撤销."""
    from sqlalchemy import func

    counts = dict(session.execute(select(Certificate.status, func.count()).where(
        Certificate.round_id == rnd.id).group_by(Certificate.status)).all())
    return {"eligible": len(eligible_expert_ids(session, rnd)), "valid": counts.get(VALID, 0),
            "revoked": counts.get(REVOKED, 0)}
