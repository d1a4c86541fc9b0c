"""The public verification page's answer for a number."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.masking import mask_name
from app.models import (
    Certificate,
)
from app.services.certificate.common import (
    VALID,
)


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
