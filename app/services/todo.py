"""待办: what waits for staff, counted in ONE statement of scalar subqueries (it runs on
every staff page that draws the menu). Each count is the number of rows its list shows."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    AttemptStatus,
    ChangeStatus,
    ExamAnswer,
    ExamAttempt,
    Expert,
    ExpertStatus,
    PaymentOrder,
    PaymentStatus,
    ProfileChange,
    Question,
    TransferRequest,
)
from app.services.exam import SHORT

# A queue longer than this shows "10000+": each count reads at most CAP + 1 index entries, so
# the menu costs the same on every page however long a queue grows.
CAP = 10_000


def _capped(query) -> object:
    """count(*) of at most CAP + 1 rows of ``query`` (a SELECT of the queue's rows)."""
    return select(func.count()).select_from(query.limit(CAP + 1).subquery()).scalar_subquery()


@dataclass(frozen=True)
class TodoKind:
    key: str
    label: str  # the card's title (Chinese; translated on screen)
    permission: tuple[str, str]  # (permission, view) the list needs: no access, no count
    menu_item: str  # the menu item (add_menu_view name) that carries the badge
    count: Callable[[], object]  # a scalar subquery


def _pending_applications():
    # what 待审核申请 (ReviewQueueView) lists: status 待审核
    return _capped(select(Expert.id).where(Expert.status == ExpertStatus.PENDING.value))


def _pending_transfers():
    return _capped(select(TransferRequest.id).where(
        TransferRequest.status == ChangeStatus.PENDING.value))


def _pending_profile_changes():
    # only a change of 专业 waits for review; every other change is 已生效 at once
    return _capped(select(ProfileChange.id).where(ProfileChange.status == ChangeStatus.PENDING.value))


def ungraded_answers_query():
    """The short answers 批阅 (GradingView) lists: not yet scored, their sitting 待批阅."""
    return (select(ExamAnswer.id).join(Question, Question.id == ExamAnswer.question_id)
            .join(ExamAttempt, ExamAttempt.id == ExamAnswer.attempt_id)
            .where(Question.kind == SHORT, ExamAnswer.points.is_(None),
                   ExamAttempt.status == AttemptStatus.PENDING.value))


def _ungraded_answers():
    return _capped(ungraded_answers_query())


def _unmatched_payments():
    # 线下对账 matches statement rows against the orders still 待支付: those are unmatched
    return _capped(select(PaymentOrder.id).where(PaymentOrder.status == PaymentStatus.UNPAID.value))


KINDS: tuple[TodoKind, ...] = (
    TodoKind("applications", "待审核申请", ("can_list", "ReviewQueue"), "待审核申请",
             _pending_applications),
    TodoKind("transfers", "异动审核", ("can_list", "TransferRequest"), "异动审核",
             _pending_transfers),
    TodoKind("profile_changes", "专业变更待审核", ("can_list", "ProfileChange"), "修改记录",
             _pending_profile_changes),
    TodoKind("grading", "待批阅答题", ("can_index", "Grading"), "批阅", _ungraded_answers),
    TodoKind("payments", "待对账缴费", ("can_index", "PaymentReconcile"), "线下对账",
             _unmatched_payments),
)


def visible_kinds(has_access: Callable[[str, str], bool]) -> list[TodoKind]:
    """The kinds whose list this user may open (an auditor without review rights: none)."""
    return [k for k in KINDS if has_access(*k.permission)]


def todo_counts(session: Session, kinds: Iterable[TodoKind]) -> dict[str, int]:
    """key → count for ``kinds``, in one round trip (none at all when there is nothing to count)."""
    kinds = list(kinds)
    if not kinds:
        return {}
    row = session.execute(select(*(k.count().label(k.key) for k in kinds))).one()
    return {k.key: int(row[i] or 0) for i, k in enumerate(kinds)}
