"""Issuing: one certificate per expert and round, rendered once and kept."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.masking import mask_id_number
from app.models import (
    Certificate,
    Expert,
    TrainingRound,
)
from app.services import audit, uploads
from app.services.audit import Action, Actor
from app.services.certificate.common import (
    VALID,
)
from app.services.certificate.eligibility import (
    Eligibility,
    eligibility,
    eligible_rounds,
    valid_certificate,
)
from app.services.certificate.rendering import (
    CertificateText,
    RenderSettings,
    file_names,
    new_number,
    render,
)


def _new_certificate(expert: Expert, rnd: TrainingRound, elig: Eligibility, today: dt.date,
                     actor_id: int | None, now: dt.datetime) -> Certificate:
    return Certificate(
        number=new_number(today), expert_id=expert.id, round_id=rnd.id,
        enrollment_id=elig.enrollment_id, holder_name=expert.name, expert_no=expert.expert_no,
        id_number_masked=mask_id_number(expert.id_number), round_name=rnd.name, hours=elig.hours,
        issued_on=today, status=VALID, created_at=now, created_by_id=actor_id)


def _attach(session: Session, cert: Certificate, owner_id: int | None,
            written: dict[str, tuple[str, int, str]]) -> None:
    pdf_name, png_name = file_names(CertificateText.of(cert))
    cert.pdf_file = uploads.file_row(owner_id=owner_id, kind_name="certificate", name=pdf_name,
                                     content_type=uploads.PDF, written=written["pdf"])
    cert.png_file = uploads.file_row(owner_id=owner_id, kind_name="certificate", name=png_name,
                                     content_type=uploads.PNG, written=written["png"])


def _remove_written(upload_dir: str | Path, written: dict[str, tuple[str, int, str]]) -> None:
    for stored_name, _, _ in written.values():
        uploads.stored_path(upload_dir, stored_name).unlink(missing_ok=True)


def _insert(session: Session, cert: Certificate, owner_id: int | None,
            written: dict[str, tuple[str, int, str]], upload_dir: str | Path) -> bool:
    """Adds the certificate and its files in a savepoint; False (files removed) when the
    expert already has a valid one for the round (another request or batch was first)."""
    try:
        with session.begin_nested():
            _attach(session, cert, owner_id, written)
            session.add(cert)
            session.flush()
    except IntegrityError:
        _remove_written(upload_dir, written)
        return False
    return True


def _render_and_write(text: CertificateText, settings: RenderSettings,
                      upload_dir: str | Path) -> dict[str, tuple[str, int, str]]:
    pdf, png = render(text, settings)
    written = {"pdf": uploads.write_file(upload_dir, pdf, uploads.PDF)}
    try:
        written["png"] = uploads.write_file(upload_dir, png, uploads.PNG)
    except uploads.StorageFailed:
        _remove_written(upload_dir, written)  # no row will name it: do not keep half a certificate
        raise
    return written


Written = dict[str, tuple[str, int, str]]
# texts → (number, files written or None, error or None) in the same order; a batch hands a
# process pool's map, one certificate renders in this process and lets errors propagate
RenderMany = Callable[[list[CertificateText]], Iterable[tuple[str, Written | None, str | None]]]


@dataclass
class Issued:
    """What ``issue_many`` did: certificates kept, experts who had one by then, failures."""

    issued: list[tuple[Expert, Certificate]] = field(default_factory=list)
    skipped: list[Expert] = field(default_factory=list)
    failed: list[tuple[Expert, str]] = field(default_factory=list)


def render_here(settings: RenderSettings, upload_dir: str | Path) -> RenderMany:
    """Render in this process; an error propagates (one certificate: the caller decides)."""
    return lambda texts: ((t.number, _render_and_write(t, settings, upload_dir), None)
                          for t in texts)


def issue_many(session: Session, rnd: TrainingRound,
               candidates: Iterable[tuple[Expert, Eligibility]], *, render_many: RenderMany,
               upload_dir: str | Path, today: dt.date, now: dt.datetime,
               actor_id: int | None) -> Issued:
    """The one issuing path (a visit, staff, a batch part): for each eligible expert without
    a valid certificate for the round, the certificate is built, rendered once, its files
    written and kept with it in a savepoint. Flushes."""
    out = Issued()
    candidates = list(candidates)
    have = set(session.execute(select(Certificate.expert_id).where(
        Certificate.round_id == rnd.id, Certificate.status == VALID,
        Certificate.expert_id.in_([e.id for e, _ in candidates]))).scalars()) if candidates else set()
    todo: dict[str, tuple[Expert, Certificate]] = {}
    for expert, elig in candidates:
        if expert.id in have:
            out.skipped.append(expert)
            continue
        cert = _new_certificate(expert, rnd, elig, today, actor_id, now)
        todo[cert.number] = (expert, cert)
    texts = [CertificateText.of(cert) for _, cert in todo.values()]
    # every file rendered before the first INSERT: the transaction writes (and on SQLite
    # holds the database's write lock) only for the inserts, not during the renderings
    rendered = list(render_many(texts))
    for number, written, error in rendered:
        expert, cert = todo[number]
        if error is not None:
            out.failed.append((expert, error))
        elif _insert(session, cert, expert.user_id, written, upload_dir):
            out.issued.append((expert, cert))
        else:
            out.skipped.append(expert)
    return out


def issue(session: Session, expert: Expert, rnd: TrainingRound, *, settings: RenderSettings,
          upload_dir: str | Path, actor: Actor, today: dt.date, now: dt.datetime,
          minutes_per_hour: int = 45) -> tuple[Certificate, bool]:
    """The expert's valid certificate for the round, issued now if there is none yet
    (rendered once and kept). (certificate, True when this call issued it). Flushes."""
    existing = valid_certificate(session, expert.id, rnd.id)
    if existing is not None:
        return existing, False
    elig = eligibility(session, expert, rnd, minutes_per_hour)
    done = issue_many(session, rnd, [(expert, elig)], render_many=render_here(settings, upload_dir),
                      upload_dir=upload_dir, today=today, now=now, actor_id=actor.id)
    if not done.issued:
        return valid_certificate(session, expert.id, rnd.id), False
    _, cert = done.issued[0]
    audit.record(session, Action.CERTIFICATE_ISSUE, actor=actor, object_type="证书",
                 object_id=cert.number, detail=f"{cert.holder_name}（{cert.expert_no}）{cert.round_name}",
                 after={"hours": cert.hours, "issued_on": cert.issued_on})
    return cert, True


def issue_due(session: Session, expert: Expert, *, settings: RenderSettings,
              upload_dir: str | Path, actor: Actor, today: dt.date, now: dt.datetime,
              minutes_per_hour: int = 45) -> list[Certificate]:
    """Automatic issuance: a certificate for every round the expert passed and paid for
    and holds none of (valid or revoked: a revoked one is not issued again by itself)."""
    done = set(session.execute(select(Certificate.round_id).where(
        Certificate.expert_id == expert.id)).scalars())
    out = []
    for round_id in sorted(eligible_rounds(session, expert, minutes_per_hour)):
        if round_id in done:
            continue
        cert, created = issue(session, expert, session.get(TrainingRound, round_id),
                              settings=settings, upload_dir=upload_dir, actor=actor, today=today,
                              now=now, minutes_per_hour=minutes_per_hour)
        if created:
            out.append(cert)
    return out
