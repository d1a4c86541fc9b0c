"""专家证书 (继续教育合格证书): who may have one, issuing, revoking, reissuing, verifying, and
issuing a whole round as a batch.

Rules
-----
* Eligible for a round: the expert has a 专家编号, the round has courses, and for every course
  of the round one of the expert's enrolments (the first or a 补学 row) is 合格 and 培训完毕
  (set by the exam service when grading ends), and a 已支付 order exists for one of the expert's
  enrolments of that course (the training fee, or the make-up fee).
* 学时 = the round's courses' required study time (``Course.required_minutes``, which the
  expert must have credited before the exam opens) summed, divided by 45 minutes per 学时
  (``CERTIFICATE_MINUTES_PER_HOUR``), rounded down, at least 1.
* The number is ``JX`` + year + 16 random Crockford base-32 characters (80 bits from
  ``secrets``), grouped by four: JX2025-7K3M-9QFD-2XHA-WP4R. Not derived from anything, so it
  cannot be guessed from another certificate.
* One 有效 certificate per expert and round (a partial unique index; issuing is idempotent:
  a second call or a concurrent batch returns the certificate already there).
* What it says (name, 专家编号, masked 身份证号, round, 学时) is copied in when issued; the PDF
  is rendered once with WeasyPrint and the PNG is drawn from that same PDF (pdfium), both
  kept as StoredFile rows owned by the expert's account; downloads only send the kept file.
* 撤销 needs a reason; the public verification page then says 已撤销.
* 补发 replaces a certificate with a new number (and the profile's current data); the old one,
  if still 有效, is revoked with the reason 补发.
"""
from __future__ import annotations

import base64
import datetime as dt
import io
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.masking import mask_id_number, mask_name
from app.models import (
    AppUser,
    Certificate,
    CertificateBatch,
    CertificateStatus,
    Course,
    Enrollment,
    Expert,
    PaymentOrder,
    StoredFile,
    TrainingRound,
    UserSession,
    utcnow,
)
from app.services import audit, sessions, uploads
from app.services.audit import Action, Actor
from app.services.roles import role_grants

PASSED = "合格"
PAID = "已支付"
VALID, REVOKED = CertificateStatus.VALID.value, CertificateStatus.REVOKED.value
QUEUED, RUNNING, FINISHED, FAILED = "排队中", "进行中", "已完成", "失败"
VERIFY_PATH = "/certificates/verify/"
# a batch still 排队中/进行中 after this long is taken as dead (its process is gone)
BATCH_STALE_AFTER = dt.timedelta(hours=1)
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ROOT = Path(__file__).resolve().parent.parent.parent
ASSETS = ROOT / "data" / "certificate"
FONTS = {"sans": ASSETS / "fonts" / "cert-sans.otf", "title": ASSETS / "fonts" / "cert-title.otf"}
PNG_DPI = 150  # A4 landscape at 150 dpi: 1754 × 1241 pixels


class CertificateError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------- eligibility


@dataclass(frozen=True)
class Eligibility:
    round_id: int
    enrollment_id: int  # the passing enrolment graded last
    hours: int


def hours_for(minutes: int, minutes_per_hour: int = 45) -> int:
    if minutes <= 0:
        return 0
    return max(1, minutes // max(1, minutes_per_hour))


def _passed_and_paid(session: Session, round_ids: Iterable[int] | None,
                     expert_ids: Iterable[int] | None) -> dict[tuple[int, int], dict]:
    """(expert, round) → courses passed and paid, the last passing enrolment."""
    def scoped(query):
        if round_ids is not None:
            query = query.where(Course.round_id.in_(list(round_ids)))
        if expert_ids is not None:
            query = query.where(Enrollment.expert_id.in_(list(expert_ids)))
        return query

    passed = session.execute(scoped(
        select(Enrollment.expert_id, Course.round_id, Enrollment.course_id, Enrollment.id,
               Enrollment.graded_at)
        .join(Course, Course.id == Enrollment.course_id)
        .where(Enrollment.review_status == PASSED, Enrollment.completed.is_(True)))).all()
    paid = set(session.execute(scoped(
        select(Enrollment.expert_id, Enrollment.course_id)
        .join(Course, Course.id == Enrollment.course_id)
        .join(PaymentOrder, PaymentOrder.enrollment_id == Enrollment.id)
        .where(PaymentOrder.status == PAID))).all())
    out: dict[tuple[int, int], dict] = {}
    for expert_id, round_id, course_id, enrollment_id, graded_at in passed:
        if (expert_id, course_id) not in paid:
            continue
        entry = out.setdefault((expert_id, round_id), {"courses": set(), "last": None})
        entry["courses"].add(course_id)
        key = (graded_at or dt.datetime.min, enrollment_id)
        if entry["last"] is None or key > entry["last"]:
            entry["last"] = key
    return out


def _round_courses(session: Session, round_ids: Iterable[int] | None) -> dict[int, dict]:
    query = select(Course.round_id, Course.id, Course.required_minutes)
    if round_ids is not None:
        query = query.where(Course.round_id.in_(list(round_ids)))
    out: dict[int, dict] = {}
    for round_id, course_id, minutes in session.execute(query):
        entry = out.setdefault(round_id, {"courses": set(), "minutes": 0})
        entry["courses"].add(course_id)
        entry["minutes"] += minutes or 0
    return out


def eligible_rounds(session: Session, expert: Expert,
                    minutes_per_hour: int = 45) -> dict[int, Eligibility]:
    """round id → Eligibility for every round this expert passed and paid for."""
    if not expert.expert_no:
        return {}
    done = _passed_and_paid(session, None, [expert.id])
    rounds = _round_courses(session, {r for _, r in done})
    out = {}
    for (_, round_id), entry in done.items():
        needed = rounds.get(round_id)
        if needed and needed["courses"] <= entry["courses"]:
            out[round_id] = Eligibility(round_id, entry["last"][1],
                                        hours_for(needed["minutes"], minutes_per_hour))
    return out


def eligibility(session: Session, expert: Expert, rnd: TrainingRound,
                minutes_per_hour: int = 45) -> Eligibility:
    """The expert's eligibility for this round, or CertificateError saying why not."""
    if not expert.expert_no:
        raise CertificateError("该专家尚无专家编号（未入库），不能发放证书")
    found = eligible_rounds(session, expert, minutes_per_hour).get(rnd.id)
    if found is None:
        raise CertificateError(f"该专家未完成{rnd.name}的全部课程培训、考试合格并缴费，不能发放证书")
    return found


def eligible_expert_ids(session: Session, rnd: TrainingRound) -> list[int]:
    """Experts (with a 专家编号) who passed and paid every course of the round."""
    needed = _round_courses(session, [rnd.id]).get(rnd.id)
    if not needed:
        return []
    done = _passed_and_paid(session, [rnd.id], None)
    ids = [e for (e, _), entry in done.items() if needed["courses"] <= entry["courses"]]
    if not ids:
        return []
    with_no: set[int] = set()
    for start in range(0, len(ids), 5000):
        with_no |= set(session.execute(select(Expert.id).where(
            Expert.id.in_(ids[start:start + 5000]), Expert.expert_no.is_not(None))).scalars())
    return sorted(with_no)


def valid_certificate(session: Session, expert_id: int, round_id: int) -> Certificate | None:
    return session.execute(select(Certificate).where(
        Certificate.expert_id == expert_id, Certificate.round_id == round_id,
        Certificate.status == VALID)).scalar_one_or_none()


# ---------------------------------------------------------------- rendering


def new_number(today: dt.date) -> str:
    chars = "".join(secrets.choice(CROCKFORD) for _ in range(16))
    return f"JX{today:%Y}-" + "-".join(chars[i:i + 4] for i in range(0, 16, 4))


def verify_url(base_url: str, number: str) -> str:
    return base_url.rstrip("/") + VERIFY_PATH + number


@dataclass(frozen=True)
class RenderSettings:
    """What every certificate shares: plain data, so a worker process can be handed it."""

    issuer: str
    seal_image: str | None
    base_url: str  # where the QR code's verification page lives


def settings_from(cfg: Any, base_url: str | None = None) -> RenderSettings:
    """Issuer, seal and the QR code's address from the configuration; ``base_url`` given
    explicitly (the CLI's --base-url) wins, then PUBLIC_BASE_URL, then the local server."""
    base = base_url or cfg.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8080"
    return RenderSettings(issuer=cfg["CERTIFICATE_ISSUER"], seal_image=cfg["CERTIFICATE_SEAL_IMAGE"],
                          base_url=base)


@dataclass(frozen=True)
class CertificateText:
    number: str
    holder_name: str
    expert_no: str
    id_number_masked: str
    round_name: str
    hours: int
    issued_on: dt.date

    @classmethod
    def of(cls, cert: Certificate) -> CertificateText:
        return cls(cert.number, cert.holder_name, cert.expert_no, cert.id_number_masked,
                   cert.round_name, cert.hours, cert.issued_on)


_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(ROOT / "app" / "templates" / "certificate")),
    autoescape=True, auto_reload=False)
_SEALS: dict[tuple[str, float], str] = {}
SEAL_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
              ".svg": "image/svg+xml"}


def seal_data_uri(path: str | None) -> str | None:
    """The seal as a data: URI, read once per file version."""
    if not path:
        return None
    p = Path(path)
    if not p.is_file() or p.suffix.lower() not in SEAL_TYPES:
        return None
    key = (str(p), p.stat().st_mtime)
    if key not in _SEALS:
        _SEALS[key] = (f"data:{SEAL_TYPES[p.suffix.lower()]};base64,"
                       + base64.b64encode(p.read_bytes()).decode())
    return _SEALS[key]


class _Renderer:
    """What one thread reuses between certificates: the stylesheet parsed once with its font
    configuration (about a third of a rendering when done each time), and the PNG palette of
    each seal. WeasyPrint's font configuration is not shared between threads."""

    def __init__(self):
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        from app.services.pdf import data_only_fetcher

        self.fetcher = data_only_fetcher(FONTS.values())
        self.font_config = FontConfiguration()
        fonts = {k: p.resolve().as_uri() for k, p in FONTS.items() if p.is_file()}
        self.css = CSS(string=_TEMPLATES.get_template("certificate.css").render(fonts=fonts),
                       font_config=self.font_config, url_fetcher=self.fetcher)
        self.palettes: dict[tuple, Any] = {}


_THREAD = threading.local()


def _renderer() -> _Renderer:
    if getattr(_THREAD, "renderer", None) is None:
        _THREAD.renderer = _Renderer()
    return _THREAD.renderer


def render_pdf(text: CertificateText, settings: RenderSettings) -> bytes:
    """The certificate as a one-page A4 landscape PDF (vector; CJK fonts embedded)."""
    from weasyprint import HTML

    from app.services.pdf import qr_data_uri

    r = _renderer()
    html = _TEMPLATES.get_template("certificate_pdf.html").render(
        c=text, issuer=settings.issuer, seal=seal_data_uri(settings.seal_image),
        qr=qr_data_uri(verify_url(settings.base_url, text.number)))
    return HTML(string=html, url_fetcher=r.fetcher).write_pdf(
        stylesheets=[r.css], font_config=r.font_config)


def pdf_to_png(pdf: bytes, dpi: int = PNG_DPI, palette_key: Any = None) -> bytes:
    """The PDF's first page as a PNG: one design, drawn by pdfium from the same PDF.

    Saved with a 256-colour palette (a third of the size, and a palette PNG skips the
    per-row filter search that takes most of an RGB PNG's time). Every certificate under
    the same settings has the same colours (only the words differ), so with ``palette_key``
    the palette is chosen from the first one and reused (exact colours, no dithering)."""
    import pypdfium2 as pdfium
    from PIL import Image

    doc = pdfium.PdfDocument(pdf)
    try:
        image = doc[0].render(scale=dpi / 72).to_pil()
    finally:
        doc.close()
    palettes = _renderer().palettes
    palette = palettes.get(palette_key) if palette_key is not None else None
    if palette is None:
        image = image.quantize(256, method=Image.Quantize.FASTOCTREE)
        if palette_key is not None:
            palettes[palette_key] = image
    else:
        image = image.quantize(palette=palette, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def render(text: CertificateText, settings: RenderSettings) -> tuple[bytes, bytes]:
    """(PDF, PNG): the only place a certificate is drawn."""
    pdf = render_pdf(text, settings)
    return pdf, pdf_to_png(pdf, palette_key=("seal", seal_data_uri(settings.seal_image)))


def file_names(text: CertificateText) -> tuple[str, str]:
    stem = f"继续教育合格证书-{text.holder_name}-{text.number}"
    return stem + ".pdf", stem + ".png"


# ---------------------------------------------------------------- issuing


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


def issue(session: Session, expert: Expert, rnd: TrainingRound, *, settings: RenderSettings,
          upload_dir: str | Path, actor: Actor, today: dt.date, now: dt.datetime,
          minutes_per_hour: int = 45) -> tuple[Certificate, bool]:
    """The expert's valid certificate for the round, issued now if there is none yet
    (rendered once and kept). (certificate, True when this call issued it). Flushes."""
    existing = valid_certificate(session, expert.id, rnd.id)
    if existing is not None:
        return existing, False
    elig = eligibility(session, expert, rnd, minutes_per_hour)
    cert = _new_certificate(expert, rnd, elig, today, actor.id, now)
    written = _render_and_write(CertificateText.of(cert), settings, upload_dir)
    if not _insert(session, cert, expert.user_id, written, upload_dir):
        return valid_certificate(session, expert.id, rnd.id), False
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


# ---------------------------------------------------------------- revoking, reissuing


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


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class Verification:
    number: str
    holder: str  # masked
    round_name: str
    hours: int
    issued_on: dt.date
    status: str
    revoked_at: dt.datetime | None

    @property
    def is_valid(self) -> bool:
        return self.status == VALID


def verify(session: Session, number: str) -> Verification | None:
    """What the public page shows for a number (None: no such certificate)."""
    number = (number or "").strip().upper()
    if not number or len(number) > 32:
        return None
    cert = session.execute(select(Certificate).where(Certificate.number == number)
                           ).scalar_one_or_none()
    if cert is None:
        return None
    return Verification(cert.number, mask_name(cert.holder_name), cert.round_name, cert.hours,
                        cert.issued_on, cert.status, cert.revoked_at)


# ---------------------------------------------------------------- kept files


@dataclass(frozen=True)
class KeptFile:
    stored_name: str
    content_type: str
    download_name: str


def _own_file_query(which: str):
    """The ownership rule: the kept PDF or PNG of a valid certificate, joined to its expert
    (the caller names the certificate and the expert's account)."""
    column = Certificate.pdf_file_id if which == "pdf" else Certificate.png_file_id
    return (select(StoredFile.stored_name, StoredFile.content_type, StoredFile.original_name)
            .select_from(Certificate)
            .join(StoredFile, StoredFile.id == column)
            .join(Expert, Expert.id == Certificate.expert_id)
            .where(Certificate.status == VALID))


def own_file(session: Session, cert_id: int, user_id: int, which: str) -> KeptFile | None:
    """The kept PDF or PNG of this account's own valid certificate, in one query (None: not
    theirs, not valid, or no such certificate: the view answers 404)."""
    row = session.execute(_own_file_query(which).where(
        Certificate.id == cert_id, Expert.user_id == user_id)).first()
    return KeptFile(*row) if row else None


def _own_file_for_session(which: str):
    return (
        _own_file_query(which)
        .join(AppUser, AppUser.id == Expert.user_id)
        .join(UserSession, sessions.fresh_clause(AppUser.id))
        .where(Certificate.id == bindparam("cert_id"), AppUser.id == bindparam("user_id"),
               AppUser.active.is_(True), AppUser.must_change_password.is_not(True),
               role_grants(AppUser.id, bindparam("permission"), bindparam("view_name"))))


# built once: the fronts' driver connection compiles each statement object once
_OWN_FILE_FOR_SESSION = {which: _own_file_for_session(which) for which in ("pdf", "png")}


def own_file_for_session(conn: Any, cert_id: int, user_id: int, token: str, which: str,
                         now: dt.datetime, *, permission: str, view_name: str,
                         idle: dt.timedelta = sessions.IDLE_LIMIT,
                         absolute: dt.timedelta = sessions.ABSOLUTE_LIMIT) -> KeptFile | None:
    """``own_file`` and everything the app checks before it, in one statement, for the
    download front: the server-side session (open, within its limits, seen within the
    last minute), the account (active, password changed), the permission of one of its
    roles, and the ownership rule. None when any of them says no: the app then decides."""
    params = {"cert_id": cert_id, "user_id": user_id, "permission": permission,
              "view_name": view_name, **sessions.fresh_params(token, now, idle, absolute)}
    row = conn.execute(_OWN_FILE_FOR_SESSION[which], params).first()
    return KeptFile(*row) if row else None


# ---------------------------------------------------------------- batches


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


# ---------------------------------------------------------------- a round as one zip


class _Pipe(io.RawIOBase):
    """A write-only, non-seekable stream whose bytes are taken out as they come."""

    def __init__(self):
        super().__init__()
        self.chunks: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def zip_round(session: Session, rnd: TrainingRound, upload_dir: str | Path,
              block: int = 1024 * 1024):
    """下载证书包: the round's valid certificates (the kept PDFs) and a list (清单.csv), streamed
    as one zip while it is written; nothing is rendered again. Yields bytes."""


    rows = session.execute(
        select(Certificate.number, Certificate.holder_name, Certificate.expert_no,
               Certificate.id_number_masked, Certificate.hours, Certificate.issued_on,
               StoredFile.stored_name)
        .join(StoredFile, StoredFile.id == Certificate.pdf_file_id)
        .where(Certificate.round_id == rnd.id, Certificate.status == VALID)
        .order_by(Certificate.expert_no)).all()
    round_name = rnd.name
    return _zip_rows(rows, round_name, upload_dir, block)


def _zip_rows(rows, round_name: str, upload_dir, block: int):
    """The zip of ``zip_round``, written while it is sent (the rows were read before the
    answer started: the request's commit may expire what the session holds)."""
    import zipfile

    from app.services.export import csv_writer

    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as zf:
        listing = io.StringIO()
        writer = csv_writer(listing)  # names typed by people: never a formula
        writer.writerow(["证书编号", "姓名", "专家编号", "身份证号", "培训批次", "学时", "发证日期", "文件"])
        for number, name, expert_no, id_masked, hours, issued_on, stored_name in rows:
            arcname = f"{expert_no}-{name}-{number}.pdf"
            writer.writerow([number, name, expert_no, id_masked, round_name, hours, issued_on, arcname])
            path = uploads.stored_path(upload_dir, stored_name)
            if not path.is_file():
                continue
            info = zipfile.ZipInfo(arcname, date_time=(issued_on.year, issued_on.month,
                                                       issued_on.day, 0, 0, 0))
            with zf.open(info, "w", force_zip64=False) as dest, path.open("rb") as src:
                while data := src.read(block):
                    dest.write(data)
                    if pipe.chunks:
                        yield pipe.take()
            yield pipe.take()
        zf.writestr(zipfile.ZipInfo("清单.csv", date_time=(2000, 1, 1, 0, 0, 0)),
                    "\ufeff" + listing.getvalue())
    yield pipe.take()
