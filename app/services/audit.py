"""The audit trail: who, when (UTC), from where, did what to which object, before/after.

Entries are only ever added; the database refuses UPDATE and DELETE on the table.
Personal data in before/after is masked: the log must not become a second copy of it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from app.masking import mask_bank_account, mask_id_number, mask_phone
from app.models import AuditEvent, utcnow


class Action:
    LOGIN = "登录成功"
    LOGIN_FAILED = "登录失败"
    LOCKED = "账号锁定"
    LOGOUT = "退出登录"
    SESSION_EXPIRED = "会话超时"
    PASSWORD_CHANGED = "修改密码"
    PASSWORD_RESET = "重置密码"
    UNLOCKED = "解除锁定"
    EXPORT = "导出"
    IMPORT = "导入"
    VIEW_PERSONAL_DATA = "查看个人信息"
    REVIEW = "审核"
    CREATE = "新增"
    UPDATE = "修改"
    DELETE = "删除"
    ROLE_PERMISSIONS = "角色权限变更"
    USER_ROLES = "用户角色变更"
    FILE_UPLOAD = "上传文件"
    FILE_REJECTED = "拒绝上传"
    FILE_DOWNLOAD = "下载文件"
    CERTIFICATE_ISSUE = "发放证书"
    CERTIFICATE_REVOKE = "撤销证书"
    CERTIFICATE_REISSUE = "补发证书"
    CERTIFICATE_BATCH = "整批发放证书"
    SETTING_CHANGE = "修改系统设置"


@dataclass(frozen=True)
class Actor:
    id: int | None
    name: str
    ip: str | None = None


SYSTEM = Actor(None, "系统")

MASKS = {
    "id_number": mask_id_number,
    "phone": mask_phone,
    "backup_phone": mask_phone,
    "account_no": mask_bank_account,
}


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def record(
    session: Session, action: str, *, actor: Actor, object_type: str | None = None,
    object_id: Any = None, detail: str | None = None, before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    event = AuditEvent(
        occurred_at=utcnow(), actor_id=actor.id, actor_name=actor.name[:128], ip=actor.ip,
        action=action, object_type=object_type,
        object_id=None if object_id is None else str(object_id)[:40],
        detail=detail, before=_json(before), after=_json(after),
    )
    session.add(event)
    return event


def _shown(name: str, value: Any) -> Any:
    if value is None:
        return None
    mask = MASKS.get(name)
    return mask(str(value)) if mask else value


def column_changes(obj: Any, skip: frozenset[str] = frozenset()) -> tuple[dict, dict]:
    """(before, after) of the plain columns changed on ``obj`` in this flush, masked."""
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        if attr.key in skip:
            continue
        history = state.attrs[attr.key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if old == new:
            continue
        before[attr.key] = _shown(attr.key, old)
        after[attr.key] = _shown(attr.key, new)
    return before, after


def column_values(obj: Any, skip: frozenset[str] = frozenset()) -> dict:
    """Every plain column of ``obj`` as it is (a row being deleted), masked."""
    state = inspect(obj)
    return {attr.key: _shown(attr.key, getattr(obj, attr.key))
            for attr in state.mapper.column_attrs if attr.key not in skip
            and getattr(obj, attr.key) is not None}


def collection_changes(obj: Any, key: str) -> tuple[list[str], list[str]] | None:
    """Names removed from and added to a relationship collection, or None if unchanged."""
    history = inspect(obj).attrs[key].history
    if not history.has_changes():
        return None
    return sorted(str(x) for x in history.deleted), sorted(str(x) for x in history.added)
