"""Writes audit entries for changes made through any screen: a session hook that sees
every flush, so no view can forget it. The actor comes from the current request.

Audited here: role permissions, user roles, the expert's row (before/after), 异动申请 and
reviewed changes, reviews, and staff edits to the profile's tabs (教育经历, 账户信息, ...:
added, changed or deleted rows through the staff screens). Values of personal data are
masked as everywhere in the log (``audit.MASKS``). The expert's own edits of the tabs are
the application's draft and the 修改记录 (``ProfileChange``), not repeated here."""
from __future__ import annotations

from flask import has_request_context, request
from flask_appbuilder.security.sqla.models import Role
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.models import (
    AppUser,
    Attachment,
    AvoidanceUnit,
    BankAccount,
    ChangeStatus,
    Education,
    EvaluationExperience,
    Expert,
    Expertise,
    ProfileChange,
    Qualification,
    ReviewRecord,
    TrainingRecord,
    TransferRequest,
    WorkExperience,
)
from app.services import audit
from app.services.access import is_staff
from app.services.audit import Action, Actor

EXPERT_SKIP = frozenset({"changed_on", "version", "created_on"})
# The profile's tabs that staff edit through the expert's page (related views), by the
# name the manual gives them; 审核详情 is written by the status service and audited as a review.
CHILD_TABS: dict[type, str] = {
    Education: "教育经历", Qualification: "职称及资质", WorkExperience: "工作经历",
    EvaluationExperience: "评标实践经验", Expertise: "业务技术专长", AvoidanceUnit: "回避单位",
    BankAccount: "账户信息", Attachment: "附件", TrainingRecord: "学习培训情况",
}
CHILD_SKIP = frozenset({"id", "expert_id"})


def client_ip() -> str | None:
    return request.remote_addr if has_request_context() else None


def current_actor() -> Actor:
    if has_request_context():
        try:
            if current_user.is_authenticated:
                return Actor(current_user.id, current_user.username, client_ip())
        except Exception:  # during login, before the user is loaded
            pass
        return Actor(None, "匿名", client_ip())
    return Actor(None, "系统（命令行）")


def _staff_is_acting() -> bool:
    if not has_request_context():
        return False
    try:
        return bool(current_user.is_authenticated) and is_staff(current_user)
    except Exception:  # during login, before the user is loaded
        return False


def _child_entry(session: Session, obj, new_experts: set[int]) -> tuple | None:
    """A tab row added, changed or deleted: (action, before, after); None when nothing
    changed, or the row came with a new expert (the expert's 新增 covers it)."""
    if obj in session.deleted:
        return (Action.DELETE, audit.column_values(obj, CHILD_SKIP), None)
    before, after = audit.column_changes(obj, CHILD_SKIP)
    if obj in session.new:
        return None if obj.expert_id in new_experts else (Action.CREATE, None, after)
    return (Action.UPDATE, before, after) if after else None


def _after_flush(session: Session, flush_context) -> None:
    """Staff edits of the profile's tabs. Written after the flush, when the rows have their
    ids (a new row's too) while their history is still the flush's; the entries are then
    flushed with the commit. One entry per row: the tab (``object_type``) and
    ``<expert id>/<row id>`` (``object_id``)."""
    rows = [obj for obj in (*session.new, *session.dirty, *session.deleted)
            if type(obj) in CHILD_TABS]
    if not rows or not _staff_is_acting():
        return
    new_experts = {obj.id for obj in session.new if isinstance(obj, Expert)}
    actor = None
    for obj in rows:
        entry = _child_entry(session, obj, new_experts)
        if entry:
            actor = actor or current_actor()
            action, before, after = entry
            audit.record(session, action, actor=actor, object_type=CHILD_TABS[type(obj)],
                         object_id=f"{obj.expert_id}/{obj.id}", before=before, after=after)


def _before_flush(session: Session, flush_context, instances) -> None:
    actor = None
    for obj in list(session.new) + list(session.dirty):
        entry = None
        if isinstance(obj, Role):
            changes = audit.collection_changes(obj, "permissions")
            if changes and (changes[0] or changes[1]):
                entry = (Action.ROLE_PERMISSIONS, "角色", obj.name,
                         {"permissions": changes[0]}, {"permissions": changes[1]})
        elif isinstance(obj, AppUser):
            changes = audit.collection_changes(obj, "roles")
            if changes and (changes[0] or changes[1]) and obj not in session.new:
                entry = (Action.USER_ROLES, "用户", obj.username,
                         {"roles": changes[0]}, {"roles": changes[1]})
        elif isinstance(obj, Expert):
            before, after = audit.column_changes(obj, EXPERT_SKIP)
            if obj in session.new:
                entry = (Action.CREATE, "专家", obj.application_no or obj.name, None, after)
            elif after:
                entry = (Action.UPDATE, "专家", obj.id, before, after)
        elif isinstance(obj, TransferRequest | ProfileChange):
            # 异动申请 and reviewed changes: filed, then decided (通过 / 驳回 / 撤回)
            kind = "异动申请" if isinstance(obj, TransferRequest) else "修改记录"
            if obj in session.new and obj.status == ChangeStatus.PENDING.value:
                entry = (Action.CREATE, kind, obj.expert_id or (obj.expert and obj.expert.id),
                         None, {"status": obj.status})
            elif obj not in session.new:
                before, after = audit.column_changes(obj, frozenset({"reviewed_at"}))
                if "status" in after:
                    entry = (Action.REVIEW, kind, obj.id, before, after)
        elif isinstance(obj, ReviewRecord) and obj in session.new:
            entry = (Action.REVIEW, "专家", obj.expert_id or (obj.expert and obj.expert.id),
                     {"status": obj.from_status},
                     {"status": obj.to_status, "action": obj.action, "opinion": obj.opinion})
        if entry:
            actor = actor or current_actor()
            action, object_type, object_id, before, after = entry
            audit.record(session, action, actor=actor, object_type=object_type,
                         object_id=object_id, before=before, after=after)


def register_audit_hooks() -> None:
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
