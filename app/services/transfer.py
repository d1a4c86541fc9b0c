"""【异动申请】: a move to another 所在市州, reviewed.

The manual: "待完成继续教育、考试后再在系统单独【异动申请】评标地州". So a request can be made
only by an admitted expert who passed continuing education and its exam, one open request
at a time; on approval the expert's 市州 changes. Every request stays as history."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import (
    ChangeStatus,
    Expert,
    ExpertStatus,
    Prefecture,
    ProfileChange,
    StoredFile,
    TransferRequest,
    utcnow,
)
from app.services.access import own_file
from app.services.accounts import FieldErrors
from app.services.change_requests import decide
from app.services.exam import training_passed

REASON_MAX = 500
OPEN = ChangeStatus.PENDING.value


def open_request(session: Session, expert: Expert) -> TransferRequest | None:
    return session.execute(select(TransferRequest).where(
        TransferRequest.expert_id == expert.id, TransferRequest.status == OPEN)).scalar_one_or_none()


def history(session: Session, expert: Expert) -> list[TransferRequest]:
    return list(session.execute(select(TransferRequest).where(
        TransferRequest.expert_id == expert.id).order_by(TransferRequest.id.desc())).scalars())


def refusal(session: Session, expert: Expert) -> str | None:
    """Why the expert cannot ask for a move now, in the words shown to them; None if they can."""
    if expert.status != ExpertStatus.ADMITTED.value:
        return "审核通过入库后方可申请异动"
    if not training_passed(session, expert.id):
        return "请完成继续教育培训并考试合格后，再提交【异动申请】"
    if open_request(session, expert) is not None:
        return "您有一条异动申请正在审核中，审核完成前不能再次申请"
    return None


def submit(session: Session, expert: Expert, *, to_prefecture_id: str | int | None, reason: str,
           attachment: StoredFile | None, actor_id: int) -> TransferRequest:
    """A new 待审核 request, or FieldErrors (keyed by form field) / a refusal (key "__all__")."""
    refused = refusal(session, expert)
    if refused:
        raise FieldErrors({"__all__": refused})
    errors: dict[str, str] = {}
    target = None
    try:
        target = session.get(Prefecture, int(to_prefecture_id)) if to_prefecture_id else None
    except (TypeError, ValueError):
        target = None
    if target is None:
        errors["to_prefecture"] = "请选择异动后的所在市州"
    elif target.id == expert.prefecture_id:
        errors["to_prefecture"] = "异动后的所在市州不能与当前所在市州相同"
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = "请填写异动原因"
    elif len(reason) > REASON_MAX:
        errors["reason"] = f"异动原因不能超过{REASON_MAX}字（当前{len(reason)}字）"
    if attachment is not None and own_file(session, attachment.id, actor_id) is None:
        errors["attachment"] = "请重新上传附件"
    if errors:
        raise FieldErrors(errors)
    request = TransferRequest(
        expert_id=expert.id, from_prefecture_id=expert.prefecture_id, to_prefecture=target,
        reason=reason, attachment_file=attachment, status=OPEN, submitted_at=utcnow())
    try:
        # two tabs submitting at once: the partial unique index decides; the savepoint keeps
        # the rest of the request (the attachment uploaded with it) when it refuses
        with session.begin_nested():
            session.add(request)
    except IntegrityError:
        raise FieldErrors({"__all__": "您有一条异动申请正在审核中，审核完成前不能再次申请"}) from None
    return request


def review(session: Session, request: TransferRequest, action: str, *, actor_kind: str,
           actor_id: int | None, opinion: str | None = None) -> None:
    """通过 moves the expert to the new 市州 (recorded as a change); 驳回 / 撤回 change nothing."""
    expert = request.expert
    decide(request, action, actor_kind=actor_kind, actor_id=actor_id,
           owner_user_id=expert.user_id, opinion=opinion)
    if action != "approve":
        return
    before = str(expert.prefecture) if expert.prefecture else ""
    expert.prefecture = request.to_prefecture
    expert.version = (expert.version or 0) + 1
    session.add(ProfileChange(
        expert=expert, section="基本信息", field="所在市州", before=before,
        after=str(request.to_prefecture), status=ChangeStatus.APPROVED.value,
        changed_at=utcnow(), changed_by_id=expert.user_id, reviewer_id=actor_id,
        reviewed_at=request.reviewed_at, opinion="异动申请审核通过"))
