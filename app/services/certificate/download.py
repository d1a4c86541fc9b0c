"""The download front's SQL: the kept file of one's own valid certificate."""
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
from app.services import sessions
from app.services.certificate.common import (
    VALID,
)
from app.services.roles import role_grants


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
