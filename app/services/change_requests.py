"""The review of an expert's change requests: 异动申请 (a move to another 市州) and a
change of 专业 made through 【修改】. Both follow one state machine, written here once:
待审核 → 已通过 / 已驳回 by a reviewer, or 已撤回 by the expert while it waits."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.masking import mask_bank_account, mask_phone
from app.models import ChangeStatus, utcnow
from app.services.expert_status import ACTOR_ROLES, TransitionError

C = ChangeStatus


@dataclass(frozen=True)
class RequestTransition:
    action: str  # the button's label
    actor: str  # "expert" (the owner) or "reviewer" (审核人员 or 管理员)
    target: ChangeStatus
    needs_opinion: bool = False


REQUEST_TRANSITIONS: dict[str, RequestTransition] = {
    "approve": RequestTransition("通过", "reviewer", C.APPROVED),
    "reject": RequestTransition("驳回", "reviewer", C.REJECTED, needs_opinion=True),
    "withdraw": RequestTransition("撤回", "expert", C.WITHDRAWN),
}


def allowed_request_actions(status: str, actor_kind: str) -> list[str]:
    if status != C.PENDING.value:
        return []
    return [name for name, t in REQUEST_TRANSITIONS.items() if actor_kind in ACTOR_ROLES[t.actor]]


def decide(request: Any, action: str, *, actor_kind: str, actor_id: int | None,
           owner_user_id: int | None, opinion: str | None = None) -> RequestTransition:
    """Move a waiting request (anything with status, reviewer_id, reviewed_at, opinion)."""
    rule = REQUEST_TRANSITIONS.get(action)
    if rule is None:
        raise TransitionError("未知的操作")
    if actor_kind not in ACTOR_ROLES[rule.actor]:
        raise TransitionError(f"您无权执行“{rule.action}”")
    if rule.actor == "expert" and owner_user_id != actor_id:
        raise TransitionError(f"您无权执行“{rule.action}”")
    if request.status != C.PENDING.value:
        raise TransitionError(f"该申请当前状态为“{request.status}”，不能{rule.action}")
    opinion = (opinion or "").strip() or None
    if rule.needs_opinion and not opinion:
        raise TransitionError(f"{rule.action}须填写审核意见")
    if opinion and len(opinion) > 500:
        raise TransitionError("审核意见不能超过500字")
    request.status = rule.target.value
    request.reviewed_at = utcnow()
    if rule.actor == "reviewer":
        request.reviewer_id = actor_id
        request.opinion = opinion
    return rule


# ---------------------------------------------------------------- what a change record shows
# Shared by 【修改】 (profile), 个人中心 (accounts) and 异动申请 (transfer): a value as the
# record keeps it, personal data masked.
MASKED = {"phone": mask_phone, "backup_phone": mask_phone, "account_no": mask_bank_account}


def shown(name: str, value: Any) -> str:
    """A value as the change record shows it: labels, 是/否, personal data masked."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(shown(name, v) for v in value)
    if name in MASKED:
        return MASKED[name](str(value))
    return str(value)
