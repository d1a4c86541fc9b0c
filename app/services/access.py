"""Who may do what: the one module of session, account, role and ownership rules.

The request guards (``app/guards.py``), the views and the fast WSGI fronts (heartbeat,
certificate download) are all built from what is written here:

- **Roles.** Staff (审核人员, 管理员) reach every expert's rows; an expert reaches only the rows
  of their own account.
- **Ownership.** One rule, written once as SQL clauses (``expert_owned_by``,
  ``file_owned_by``) that the loaders below and the fronts' single statements share, and
  one loader per owned object kind (the Flask tutorial's ``get_post(id, check_author=True)``
  shape). A stranger's object answers ``NotFound`` (404), indistinguishable from a missing
  one.
"""
from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from app.models import (
    Certificate,
    Enrollment,
    Expert,
    ProfileChange,
    StoredFile,
    TransferRequest,
)
from app.services.errors import NotFound
from app.services.roles import ROLE_ADMIN, ROLE_REVIEWER

STAFF_READERS = (ROLE_ADMIN, ROLE_REVIEWER)
T = TypeVar("T")


# --- roles -------------------------------------------------------------------------------

def is_staff(user: Any) -> bool:
    return any(role.name in STAFF_READERS for role in getattr(user, "roles", []))


def actor_kind(user: Any) -> str:
    """What the status machine calls this account: "admin", "reviewer" or "expert"."""
    names = {role.name for role in getattr(user, "roles", [])}
    if ROLE_ADMIN in names:
        return "admin"
    return "reviewer" if ROLE_REVIEWER in names else "expert"


# --- ownership: the rule, as SQL -----------------------------------------------------------

def expert_owned_by(user_id: Any) -> ColumnElement[bool]:
    """The expert row of this account (``user_id`` may be a bind parameter)."""
    return Expert.user_id == user_id


def file_owned_by(user_id: Any) -> ColumnElement[bool]:
    return StoredFile.owner_id == user_id


def can_read_expert(user: Any, expert: Expert) -> bool:
    return is_staff(user) or (expert.user_id is not None and expert.user_id == user.id)


def can_read_file(user: Any, stored: StoredFile) -> bool:
    return is_staff(user) or (stored.owner_id is not None and stored.owner_id == user.id)


# --- loaders: one per owned object kind --------------------------------------------------------

def own_expert(session: Session, user: Any) -> Expert | None:
    """The expert row of this account, or None (a staff account has none)."""
    return session.execute(select(Expert).where(expert_owned_by(user.id))).scalar_one_or_none()


def load_own_expert(session: Session, user: Any) -> Expert:
    expert = own_expert(session, user)
    if expert is None:
        raise NotFound()
    return expert


def load_expert(session: Session, expert_id: int, user: Any) -> Expert:
    """An expert's row: staff any, an expert only their own."""
    expert = session.get(Expert, expert_id)
    if expert is None or not can_read_expert(user, expert):
        raise NotFound()
    return expert


def load_file(session: Session, file_id: int, user: Any) -> StoredFile:
    stored = session.get(StoredFile, file_id)
    if stored is None or not can_read_file(user, stored):
        raise NotFound()
    return stored


def own_file(session: Session, file_id: Any, user_id: int) -> StoredFile | None:
    """A file this account uploaded, or None (a form field naming another's file is
    treated as empty, never as an error that says the file exists)."""
    try:
        stored = session.get(StoredFile, int(file_id))
    except (TypeError, ValueError):
        return None
    return stored if stored is not None and stored.owner_id == user_id else None


def _owned_by_expert(session: Session, model: type[T], pk: int, user: Any,
                     staff_too: bool) -> T:
    row = session.get(model, pk)
    if row is None:
        raise NotFound()
    if staff_too and is_staff(user):
        return row
    expert = own_expert(session, user)
    if expert is None or row.expert_id != expert.id:
        raise NotFound()
    return row


def load_enrollment(session: Session, enrollment_id: int, user: Any) -> Enrollment:
    """The expert's own enrolment (我的培训 and what hangs from it: orders, study, exams)."""
    return _owned_by_expert(session, Enrollment, enrollment_id, user, staff_too=False)


def load_certificate(session: Session, cert_id: int, user: Any, staff_too: bool = False) -> Certificate:
    return _owned_by_expert(session, Certificate, cert_id, user, staff_too=staff_too)


def load_transfer(session: Session, request_id: int, user: Any, staff_too: bool = False) -> TransferRequest:
    return _owned_by_expert(session, TransferRequest, request_id, user, staff_too=staff_too)


def load_profile_change(session: Session, change_id: int, user: Any,
                        staff_too: bool = False) -> ProfileChange:
    return _owned_by_expert(session, ProfileChange, change_id, user, staff_too=staff_too)


def owns_expert(user_id: int | None, expert: Expert) -> bool:
    """The ownership rule in Python, for a service handed the actor's id (not the account)."""
    return expert.user_id is not None and expert.user_id == user_id
