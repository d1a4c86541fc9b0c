"""What every part of the certificate service shares: the statuses it compares, paths
and the error it raises."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from app.models import CertificateStatus

PASSED = "合格"
PAID = "已支付"
VALID, REVOKED = CertificateStatus.VALID.value, CertificateStatus.REVOKED.value
QUEUED, RUNNING, FINISHED, FAILED = "排队中", "进行中", "已完成", "失败"
VERIFY_PATH = "/certificates/verify/"
# a batch still 排队中/进行中 after this long is taken as dead (its process is gone)
BATCH_STALE_AFTER = dt.timedelta(hours=1)
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ROOT = Path(__file__).resolve().parent.parent.parent.parent
ASSETS = ROOT / "data" / "certificate"
FONTS = {"sans": ASSETS / "fonts" / "cert-sans.otf", "title": ASSETS / "fonts" / "cert-title.otf"}
PNG_DPI = 150  # A4 landscape at 150 dpi: 1754 × 1241 pixels


class CertificateError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

