"""Who may do what: the one module of session, account, role, permission, ownership and
study-window rules.

The request guards (``app/guards.py``), the views and the fast WSGI fronts (heartbeat,
certificate download, ``app/views/_front.py``) are all built from what is written here.
Each rule is written once and offered twice: as Python, for a guard or a view that holds
the row, and as an SQL clause builder, for a front that checks everything in one statement.

- **Sessions.** A request's server-side session (``user_session``) must be open, used
  within the idle limit and younger than the absolute limit (``SessionLimits``, from
  ``SESSION_IDLE_MINUTES`` / ``SESSION_ABSOLUTE_HOURS``); its messages name those limits.
- **Account.** Active, and its default password changed (until then only
  ``PASSWORD_CHANGE_ALLOWED`` endpoints answer).
- **Roles and permission.** Staff (审核人员, 管理员) reach every expert's rows; an expert
  only their own; ``role_grants`` is FAB's permission check as SQL.
- **Ownership.** One rule, written once as SQL clauses (``expert_owned_by``,
  ``file_owned_by``) that the loaders below and the fronts' single statements share, and
  one loader per owned object kind (the Flask tutorial's ``get_post(id, check_author=True)``
  shape). A stranger's object answers ``NotFound`` (404), indistinguishable from a missing
  one.
- **Study window.** 学习 is open from ``study_start`` until ``study_end`` (no end: open).
"""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from flask_appbuilder.security.sqla.models import (
    Permission,
    PermissionView,
    ViewMenu,
    assoc_permissionview_role,
    assoc_user_role,
)
from sqlalchemy import ColumnElement, DateTime, and_, bindparam, literal, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from app.models import (
    AppUser,
    Certificate,
    Enrollment,
    Expert,
    ProfileChange,
    StoredFile,
    TransferRequest,
    UserSession,
)
from app.services import sessions
from app.services.errors import NotFound
from app.services.roles import ROLE_ADMIN, ROLE_REVIEWER

STAFF_READERS = (ROLE_ADMIN, ROLE_REVIEWER)
T = TypeVar("T")

# Flask-Login keeps the signed-in account's id under this key of the session (written by
# flask_login.login_user; it has no public constant). The fronts read it from the cookie.
LOGIN_USER_KEY = "_user_id"
# Our key of the server-side session's token in the signed cookie.
SESSION_TOKEN = "sid"


def postgresql_text(clause: ColumnElement[Any]) -> str:
    """A clause as PostgreSQL text with ``:name`` parameters, for a front's hand-written
    statement (a CTE with UPDATE ... FROM that Core does not build): the rule is still the
    clause written here, only spelt out once at import."""
    return str(clause.compile(dialect=postgresql.psycopg2.dialect(paramstyle="named")))


# --- sessions ------------------------------------------------------------------------------

SESSION_MISSING = "请重新登录"
SESSION_GONE = "登录已失效，请重新登录"


def _duration(limit: dt.timedelta) -> str:
    minutes = int(limit.total_seconds() // 60)
    return f"{minutes // 60}小时" if minutes and minutes % 60 == 0 else f"{minutes}分钟"


@dataclass(frozen=True)
class SessionLimits:
    """How long a server-side session lasts: idle (since its last request) and absolute."""

    idle: dt.timedelta = dt.timedelta(minutes=30)
    absolute: dt.timedelta = dt.timedelta(hours=12)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SessionLimits:
        return cls(idle=dt.timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
                   absolute=dt.timedelta(hours=config["SESSION_ABSOLUTE_HOURS"]))

    def idle_message(self) -> str:
        return f"{_duration(self.idle)}未操作，请重新登录"

    def absolute_message(self) -> str:
        return f"登录已超过{_duration(self.absolute)}，请重新登录"


DEFAULT_LIMITS = SessionLimits()


def session_limit_reached(created_at: dt.datetime, last_seen_at: dt.datetime,
                          now: dt.datetime, limits: SessionLimits = DEFAULT_LIMITS
                          ) -> tuple[str, str] | None:
    """(reason kept on the row, message for the person) when a limit has run out.
    The SQL twin: ``session_within_limits``."""
    if now - created_at > limits.absolute:
        return f"超过{_duration(limits.absolute)}", limits.absolute_message()
    if now - last_seen_at > limits.idle:
        return "闲置超时", limits.idle_message()
    return None


def session_needs_touch(last_seen_at: dt.datetime, now: dt.datetime) -> bool:
    """last_seen_at is written at most once a ``TOUCH_EVERY``, not on every request."""
    return now - last_seen_at > sessions.TOUCH_EVERY


def check_session(session: Session, token: str | None, user_id: int, now: dt.datetime,
                  limits: SessionLimits = DEFAULT_LIMITS) -> str | None:
    """None when the request's session may go on, else why not (as shown to the person).
    A session past a limit is ended; one in use is touched. Flushes (the request commits,
    also when it answers with the refusal)."""
    if not token:
        return SESSION_MISSING
    row = session.execute(
        select(UserSession).where(UserSession.token_hash == sessions.token_hash(token))
    ).scalar_one_or_none()
    if row is None or row.user_id != user_id or row.ended_at is not None:
        return SESSION_GONE
    limit = session_limit_reached(row.created_at, row.last_seen_at, now, limits)
    if limit is not None:
        row.ended_at, row.end_reason = now, limit[0]
        session.flush()
        return limit[1]
    if session_needs_touch(row.last_seen_at, now):
        row.last_seen_at = now
        session.flush()
    return None


def session_open(user_id_column: Any) -> ColumnElement[bool]:
    """SQL: the session of ``:token_hash`` belongs to this account and was not ended."""
    return and_(UserSession.user_id == user_id_column,
                UserSession.token_hash == bindparam("token_hash"), UserSession.ended_at.is_(None))


def session_within_limits() -> ColumnElement[bool]:
    """SQL twin of ``session_limit_reached`` (None there = true here), on user_session's
    columns; its values come from ``session_params``."""
    return and_(UserSession.created_at >= bindparam("created_after", type_=DateTime),
                UserSession.last_seen_at >= bindparam("idle_after", type_=DateTime))


def session_fresh(user_id_column: Any) -> ColumnElement[bool]:
    """SQL, stricter than ``check_session``: this account's session is open, within its
    limits and seen within TOUCH_EVERY, so a request it admits needs no write (one that
    ``check_session`` would touch, end or refuse is left to the app)."""
    return and_(session_open(user_id_column), session_within_limits(),
                UserSession.last_seen_at >= bindparam("seen_after", type_=DateTime))


def session_params(token: str, now: dt.datetime, limits: SessionLimits = DEFAULT_LIMITS) -> dict:
    """The values of ``session_open`` / ``session_within_limits`` / ``session_fresh``."""
    return {"token_hash": sessions.token_hash(token), "created_after": now - limits.absolute,
            "idle_after": now - limits.idle,
            "seen_after": now - min(limits.idle, sessions.TOUCH_EVERY)}


# --- account -------------------------------------------------------------------------------

MUST_CHANGE_PASSWORD = "请先修改默认密码"
# Endpoints an account that must change its password may still reach.
PASSWORD_CHANGE_ALLOWED = frozenset({
    "AccountView.change_password",
    "LoginView.logout",
    "LoginView.login",
    "LoginView.captcha",
    "LocaleView.index",
    "static",
    "appbuilder.static",
    "favicon",
})
STATIC_ENDPOINTS = frozenset({"static", "appbuilder.static", "favicon"})


def password_change_refusal(must_change_password: bool | None,
                            endpoint: str | None = None) -> tuple[int, str] | None:
    """(403, message) while a default password must be changed, at any endpoint but the
    allowed ones (``endpoint`` None: none is allowed)."""
    if must_change_password and endpoint not in PASSWORD_CHANGE_ALLOWED:
        return 403, MUST_CHANGE_PASSWORD
    return None


def account_refusal(active: bool | None, must_change_password: bool | None,
                    endpoint: str | None = None) -> tuple[int, str] | None:
    """(status, message) when this account may not be served at ``endpoint``: an inactive
    account's session no longer counts (401); then ``password_change_refusal``.
    SQL twin: ``account_usable``."""
    if not active:
        return 401, SESSION_GONE
    return password_change_refusal(must_change_password, endpoint)


def account_usable() -> ColumnElement[bool]:
    """SQL: the account (ab_user) is active and its password was changed."""
    return and_(AppUser.active.is_(True), AppUser.must_change_password.is_not(True))


# --- roles and permission -------------------------------------------------------------------

def is_staff(user: Any) -> bool:
    return any(role.name in STAFF_READERS for role in getattr(user, "roles", []))


def actor_kind(user: Any) -> str:
    """What the status machine calls this account: "admin", "reviewer" or "expert"."""
    names = {role.name for role in getattr(user, "roles", [])}
    if ROLE_ADMIN in names:
        return "admin"
    return "reviewer" if ROLE_REVIEWER in names else "expert"


def role_grants(user_id_column: Any, permission: Any, view_name: Any) -> ColumnElement[bool]:
    """SQL: one of the account's own roles holds ``permission`` on ``view_name`` (FAB's
    tables), for a statement that checks permission in the same query as everything else.
    Roles held through a group are not looked at: where this says no, the app's own check
    (FAB's ``has_access``, which also reads groups) decides."""
    return select(literal(1)).select_from(assoc_user_role).join(
        assoc_permissionview_role,
        assoc_permissionview_role.c.role_id == assoc_user_role.c.role_id).join(
        PermissionView, PermissionView.id == assoc_permissionview_role.c.permission_view_id).join(
        Permission, Permission.id == PermissionView.permission_id).join(
        ViewMenu, ViewMenu.id == PermissionView.view_menu_id).where(
        assoc_user_role.c.user_id == user_id_column, Permission.name == permission,
        ViewMenu.name == view_name).exists()


# --- study window ---------------------------------------------------------------------------

class StudyWindow(enum.Enum):
    NOT_OPEN = "not_open"  # not paid yet, or before study_start
    OPEN = "open"
    ENDED = "ended"


def study_window(study_start: dt.datetime | None, study_end: dt.datetime | None,
                 now: dt.datetime) -> StudyWindow:
    """Where ``now`` stands in an enrolment's study window; no ``study_end``: open-ended.
    SQL twin: ``study_window_open``."""
    if study_start is None or now < study_start:
        return StudyWindow.NOT_OPEN
    if study_end is not None and now > study_end:
        return StudyWindow.ENDED
    return StudyWindow.OPEN


def study_window_open(now: Any) -> ColumnElement[bool]:
    """SQL: the enrolment's study window holds ``now`` (a value or a bind parameter)."""
    return and_(Enrollment.study_start <= now,
                or_(Enrollment.study_end.is_(None), Enrollment.study_end >= now))


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
