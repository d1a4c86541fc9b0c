"""撤销 and 补发."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import (
    Certificate,
)
from app.services import audit
from app.services.audit import Action, Actor
from app.services.certificate.common import (
    REVOKED,
    VALID,
    CertificateError,
)
from app.services.certificate.eligibility import (
    eligibility,
    valid_certificate,
)
from app.services.certificate.issuing import (
    _insert,
    _new_certificate,
    _render_and_write,
)
from app.services.certificate.rendering import (
    CertificateText,
    RenderSettings,
)

MAX_REASON = 500


def revoke(session: Session, cert: Certificate, reason: str | None, *, actor: Actor,
           now: dt.datetime) -> None:
    """撤销: with a reason; the verification page then says 已撤销. Flushes."""
    reason = (reason or "").strip()
    if not reason:
        raise CertificateError("请填写撤销原因")
    if len(reason) > MAX_REASON:
        raise CertificateError(f"撤销原因不能超过 {MAX_REASON} 字")
    changed = session.execute(
        update(Certificate).where(Certificate.id == cert.id, Certificate.status == VALID)
        .values(status=REVOKED, revoked_at=now, revoke_reason=reason, revoked_by_id=actor.id)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise CertificateError("该证书已撤销")
    session.refresh(cert)
    audit.record(session, Action.CERTIFICATE_REVOKE, actor=actor, object_type="证书",
                 object_id=cert.number, detail=reason, before={"status": VALID},
                 after={"status": REVOKED})


def reissue(session: Session, cert: Certificate, *, settings: RenderSettings,
            upload_dir: str | Path, actor: Actor, today: dt.date, now: dt.datetime,
            minutes_per_hour: int = 45) -> Certificate:
    """补发: a new certificate (new number, the profile's current data) for the same expert
    and round; the old one, if still valid, is revoked with the reason 补发. Flushes."""
    expert, rnd = cert.expert, cert.round
    other = valid_certificate(session, cert.expert_id, cert.round_id)
    if other is not None and other.id != cert.id:
        raise CertificateError(f"该专家本批次已有有效证书 {other.number}，无需补发")
    elig = eligibility(session, expert, rnd, minutes_per_hour)
    new = _new_certificate(expert, rnd, elig, today, actor.id, now)
    new.reissue_of_id = cert.id
    written = _render_and_write(CertificateText.of(new), settings, upload_dir)
    if cert.status == VALID:
        revoke(session, cert, f"补发，新证书编号 {new.number}", actor=actor, now=now)
    if not _insert(session, new, expert.user_id, written, upload_dir):
        raise CertificateError("该专家本批次已有有效证书，请刷新后查看")
    audit.record(session, Action.CERTIFICATE_REISSUE, actor=actor, object_type="证书",
                 object_id=new.number, detail=f"补发，原证书编号 {cert.number}")
    return new
