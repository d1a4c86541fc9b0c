"""Writes audit entries for changes made through any screen: a session hook that sees
every flush, so no view can forget it. The actor comes from the current request."""
from __future__ import annotations

from flask import has_request_context, request
from flask_appbuilder.security.sqla.models import Role
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.models import (
    AppUser,
    ChangeStatus,
    Expert,
    ProfileChange,
    ReviewRecord,
    TransferRequest,
)
from app.services import audit
from app.services.audit import Action, Actor

EXPERT_SKIP = frozenset({"changed_on", "version", "created_on"})


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
