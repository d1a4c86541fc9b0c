"""Who may see what: the one ownership rule for expert-facing pages, files and actions.

An expert reaches only rows that belong to their own account; staff (审核人员, 管理员)
reach every expert's. Views ask here and answer 404 when the answer is no, so a
stranger's object is indistinguishable from a missing one.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Expert, StoredFile
from app.services.roles import ROLE_ADMIN, ROLE_REVIEWER

STAFF_READERS = (ROLE_ADMIN, ROLE_REVIEWER)


def is_staff(user: Any) -> bool:
    return any(role.name in STAFF_READERS for role in getattr(user, "roles", []))


def own_expert(session: Session, user: Any) -> Expert | None:
    return session.execute(select(Expert).where(Expert.user_id == user.id)).scalar_one_or_none()


def can_read_expert(user: Any, expert: Expert) -> bool:
    return is_staff(user) or (expert.user_id is not None and expert.user_id == user.id)


def can_read_file(user: Any, stored: StoredFile) -> bool:
    return is_staff(user) or (stored.owner_id is not None and stored.owner_id == user.id)


def actor_kind(user: Any) -> str:
    """What the status machine calls this account: "admin", "reviewer" or "expert"."""
    names = {role.name for role in getattr(user, "roles", [])}
    if ROLE_ADMIN in names:
        return "admin"
    return "reviewer" if ROLE_REVIEWER in names else "expert"
