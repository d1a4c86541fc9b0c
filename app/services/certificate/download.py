"""The download front's SQL: the kept file of one's own valid certificate, with every rule
of app.services.access the app applies before its download view, in one statement."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.models import (
    AppUser,
    Certificate,
    Expert,
    StoredFile,
    UserSession,
)
from app.services import access
from app.services.certificate.common import (
    VALID,
)


@dataclass(frozen=True)
class KeptFile:
    stored_name: str
    content_type: str
    download_name: str


def _own_file_query(which: str):
    """The kept PDF or PNG of a valid certificate, joined to its expert (the caller names
    the certificate and applies the ownership rule to the expert)."""
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
        Certificate.id == cert_id, access.expert_owned_by(user_id))).first()
    return KeptFile(*row) if row else None


def _own_file_for_session(which: str):
    user_id = bindparam("user_id")
    return (
        _own_file_query(which)
        .join(AppUser, AppUser.id == Expert.user_id)
        .join(UserSession, access.session_fresh(AppUser.id))
        .where(Certificate.id == bindparam("cert_id"), access.expert_owned_by(user_id),
               access.account_usable(),
               access.role_grants(AppUser.id, bindparam("permission"), bindparam("view_name"))))


# built once: the fronts' driver connection compiles each statement object once
_OWN_FILE_FOR_SESSION = {which: _own_file_for_session(which) for which in ("pdf", "png")}


def own_file_for_session(conn: Any, cert_id: int, user_id: int, token: str, which: str,
                         now: dt.datetime, *, permission: str, view_name: str,
                         limits: access.SessionLimits = access.DEFAULT_LIMITS
                         ) -> KeptFile | None:
    """``own_file`` and everything the app checks before it, in one statement, for the
    download front: the server-side session (open, within its limits, seen within the
    last minute: ``access.session_fresh``), the account (``access.account_usable``), the
    permission of one of its roles (``access.role_grants``), and the ownership rule. None
    when any of them says no: the app then decides."""
    params = {"cert_id": cert_id, "user_id": user_id, "permission": permission,
              "view_name": view_name, **access.session_params(token, now, limits)}
    row = conn.execute(_OWN_FILE_FOR_SESSION[which], params).first()
    return KeptFile(*row) if row else None
