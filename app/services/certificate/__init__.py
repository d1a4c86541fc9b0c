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

One module per concern: ``eligibility``, ``rendering``, ``issuing``, ``revoking``,
``verification``, ``download`` (the download front's SQL), ``batch`` (整批发放) and ``archive``
(下载证书包); this package re-exports what the views, the CLI and the tests use.
"""
from app.services.certificate.archive import zip_round
from app.services.certificate.batch import (
    TASK_PART,
    TASK_PLAN,
    BatchResult,
    active_batch,
    cancel_batch,
    part_job,
    plan_job,
    progress_percent,
    retry_batch,
    round_counts,
    run_batch,
    start_batch,
    status_json,
)
from app.services.certificate.common import (
    ASSETS,
    CANCELLED,
    FAILED,
    FINISHED,
    FONTS,
    PNG_DPI,
    QUEUED,
    REVOKED,
    ROOT,
    RUNNING,
    VALID,
    VERIFY_PATH,
    CertificateError,
)
from app.services.certificate.download import KeptFile, own_file, own_file_for_session
from app.services.certificate.eligibility import (
    Eligibility,
    eligibility,
    eligible_expert_ids,
    eligible_rounds,
    hours_for,
    valid_certificate,
)
from app.services.certificate.issuing import Issued, issue, issue_due, issue_many
from app.services.certificate.rendering import (
    CertificateText,
    RenderSettings,
    _renderer,
    file_names,
    new_number,
    pdf_to_png,
    render,
    render_pdf,
    seal_data_uri,
    settings_from,
    verify_url,
)
from app.services.certificate.revoking import MAX_REASON, reissue, revoke
from app.services.certificate.verification import Verification, verify

__all__ = [
    "ASSETS", "CANCELLED", "TASK_PART", "TASK_PLAN", "Issued", "issue_many",
    "cancel_batch", "retry_batch", "status_json", "plan_job", "part_job", "FAILED", "FINISHED",
    "FONTS", "MAX_REASON", "PNG_DPI",
    "QUEUED", "REVOKED", "ROOT", "RUNNING", "VALID", "VERIFY_PATH", "BatchResult",
    "CertificateError", "CertificateText", "Eligibility", "KeptFile", "RenderSettings",
    "Verification", "_renderer", "active_batch", "eligibility", "eligible_expert_ids",
    "eligible_rounds", "file_names", "hours_for", "issue", "issue_due", "new_number", "own_file",
    "own_file_for_session", "pdf_to_png", "progress_percent", "reissue", "render", "render_pdf",
    "revoke", "round_counts", "run_batch", "seal_data_uri", "settings_from", "start_batch",
    "valid_certificate", "verify", "verify_url", "zip_round",
]
