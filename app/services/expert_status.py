"""The expert's status: 草稿 → 待审核 → 已入库 (or 已退回 → 待审核 again), 暂停, 清退.

Every change of status goes through ``transition``: who may do what from which
state is written here once, and each change leaves a 审核记录.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.models import Expert, ExpertStatus, ReviewRecord, utcnow
from app.services.errors import DomainError

S = ExpertStatus


@dataclass(frozen=True)
class Transition:
    action: str  # the button's label
    actor: str  # "expert" (the owner), "reviewer" (审核人员 or 管理员), "admin"
    sources: frozenset[ExpertStatus]
    target: ExpertStatus
    needs_opinion: bool = False


TRANSITIONS: dict[str, Transition] = {
    "submit": Transition("提交审核", "expert", frozenset({S.DRAFT, S.RETURNED}), S.PENDING),
    "approve": Transition("通过", "reviewer", frozenset({S.PENDING}), S.ADMITTED),
    "return": Transition("退回", "reviewer", frozenset({S.PENDING}), S.RETURNED,
                         needs_opinion=True),
    "suspend": Transition("暂停", "reviewer", frozenset({S.ADMITTED}), S.SUSPENDED,
                          needs_opinion=True),
    "resume": Transition("恢复", "reviewer", frozenset({S.SUSPENDED}), S.ADMITTED),
    "remove": Transition("清退", "admin", frozenset({S.ADMITTED, S.SUSPENDED}), S.REMOVED,
                         needs_opinion=True),
}

ACTOR_ROLES = {"expert": {"expert"}, "reviewer": {"reviewer", "admin"}, "admin": {"admin"}}


class TransitionError(DomainError):
    """A move the state machine refuses (400: flashed, back to the page)."""


def is_admitted(expert: Expert | None) -> bool:
    """已入库: 【继续教育】 and 【专家证书】 are open to the expert."""
    return expert is not None and expert.status == S.ADMITTED.value


def allowed_actions(status: str, actor_kind: str) -> list[str]:
    return [
        name for name, t in TRANSITIONS.items()
        if S(status) in t.sources and actor_kind in ACTOR_ROLES[t.actor]
    ]


def transition(
    expert: Expert, action: str, *, actor_kind: str, actor_id: int | None,
    opinion: str | None = None,
) -> ReviewRecord:
    """Apply ``action`` by an actor of ``actor_kind`` ("expert", "reviewer", "admin")."""
    rule = TRANSITIONS.get(action)
    if rule is None:
        raise TransitionError("未知的操作")
    if actor_kind not in ACTOR_ROLES[rule.actor]:
        raise TransitionError(f"您无权执行“{rule.action}”")
    if actor_kind == "expert" and expert.user_id != actor_id:
        raise TransitionError(f"您无权执行“{rule.action}”")
    current = S(expert.status)
    if current not in rule.sources:
        raise TransitionError(f"当前状态为“{current.value}”，不能{rule.action}")
    if rule.needs_opinion and not (opinion or "").strip():
        raise TransitionError(f"{rule.action}须填写审核意见")
    record = ReviewRecord(
        reviewer_id=actor_id, reviewed_at=utcnow(), action=rule.action,
        from_status=current.value, to_status=rule.target.value,
        opinion=(opinion or "").strip() or None,
    )
    expert.status = rule.target.value
    expert.review_records.append(record)
    return record
