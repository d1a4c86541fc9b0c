"""What every part of the certificate service shares: the statuses it compares, paths
and the error it raises."""
from __future__ import annotations

from pathlib import Path

from app.models import BatchStatus, CertificateStatus, PaymentStatus, ReviewStatus
from app.services.errors import DomainError

PASSED = ReviewStatus.PASSED.value
PAID = PaymentStatus.PAID.value
VALID, REVOKED = CertificateStatus.VALID.value, CertificateStatus.REVOKED.value
QUEUED, RUNNING, FINISHED, FAILED, CANCELLED = (
    BatchStatus.QUEUED.value, BatchStatus.RUNNING.value, BatchStatus.DONE.value,
    BatchStatus.FAILED.value, BatchStatus.CANCELLED.value)
VERIFY_PATH = "/certificates/verify/"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ROOT = Path(__file__).resolve().parent.parent.parent.parent
ASSETS = ROOT / "data" / "certificate"
FONTS = {"sans": ASSETS / "fonts" / "cert-sans.otf", "title": ASSETS / "fonts" / "cert-title.otf"}
PNG_DPI = 150  # A4 landscape at 150 dpi: 1754 × 1241 pixels


class CertificateError(DomainError):
    """A refusal of the certificate rules (not eligible, already revoked, ...)."""

