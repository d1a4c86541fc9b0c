"""【修改】: an admitted expert changes their own profile after admission.

The manual: "点击【修改】可修改除姓名、性别、出生年月、身份证号、所在市州外的信息", and "如需变更
工作单位、增加回避单位及申报专业信息待完成继续教育、考试后再在系统单独【修改】". So:
- 姓名, 性别, 出生年月, 身份证号 and 所在市州 are never changed here (所在市州 moves through
  【异动申请】); posting them anyway changes nothing;
- 工作单位, the 专业 and 回避单位 only once continuing education and its exam are passed;
- every change is recorded with its before and after (personal data masked);
- a change of 专业 decides which evaluations the expert can be drawn for: it waits for a
  reviewer (待审核) and applies only when approved.
"""
from __future__ import annotations

import json
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ChangeStatus, Expert, ExpertStatus, ProfileChange, Specialty, utcnow
from app.services import application as app_service
from app.services.application import BASIC, FIRST_PROFESSIONAL, SECTIONS, StepErrors
from app.services.change_requests import decide, shown
from app.services.exam import training_passed
from app.services.expert_status import TransitionError
from app.services.messages import N_

# Never changed through 【修改】, each with where to go instead.
LOCKED = {
    "prefecture": "所在市州不能在此修改，如需更换请通过【异动申请】提交审核",
}
IDENTITY_NOTE = N_("姓名、性别、出生年月、身份证号不能修改，如有误请联系管理人员核实更正")
# Open once continuing education and its exam are passed.
AFTER_TRAINING = ("employer", "main_specialty", "extra_specialties")
AFTER_TRAINING_SECTIONS = ("avoidance_units",)
AFTER_TRAINING_NOTE = N_("完成继续教育培训并考试合格后，可修改工作单位、专业类别和回避单位")
# A change of these waits for review.
REVIEWED = ("main_specialty", "extra_specialties")
SPECIALTY_FIELD = "专业类别"
SPECIALTY_PENDING_NOTE = N_("您的专业类别变更正在审核中，审核完成前不能再次变更")
MODIFIABLE = {ExpertStatus.ADMITTED.value, ExpertStatus.SUSPENDED.value}


def can_modify(expert: Expert) -> bool:
    return expert.status in MODIFIABLE


def locked_fields(session: Session, expert: Expert) -> dict[str, str]:
    """Basic fields shown read-only on 【修改】, each with its note."""
    locked = dict(LOCKED)
    if not training_passed(session, expert.id):
        locked.update(dict.fromkeys(AFTER_TRAINING, AFTER_TRAINING_NOTE))
    elif pending_specialty_change(session, expert) is not None:
        locked.update(dict.fromkeys(REVIEWED, SPECIALTY_PENDING_NOTE))
    return locked


def frozen_sections(session: Session, expert: Expert) -> dict[str, str]:
    if training_passed(session, expert.id):
        return {}
    return dict.fromkeys(AFTER_TRAINING_SECTIONS, AFTER_TRAINING_NOTE)


def pending_specialty_change(session: Session, expert: Expert) -> ProfileChange | None:
    return session.execute(select(ProfileChange).where(
        ProfileChange.expert_id == expert.id, ProfileChange.field == SPECIALTY_FIELD,
        ProfileChange.status == ChangeStatus.PENDING.value)).scalars().first()


def history(session: Session, expert: Expert) -> list[ProfileChange]:
    return list(session.execute(select(ProfileChange).where(
        ProfileChange.expert_id == expert.id).order_by(ProfileChange.id.desc())).scalars())


# ---------------------------------------------------------------- what a value reads as

def _snapshot(expert: Expert) -> dict[str, str]:
    """Every field and section of the profile as the text a person reads."""
    shot = {f.name: shown(f.name, getattr(expert, f.name)) for f in BASIC}
    for section in SECTIONS:
        rows = getattr(expert, section.name)
        if section.name == "avoidance_units":
            rows = [r for r in rows if not r.is_employer]
        shot[section.name] = "\n".join(
            "；".join(shown(f.name, getattr(r, f.name)) for f in section.fields) for r in rows)
    return shot


def _specialty_text(main: Specialty | None, extra: list[Specialty]) -> str:
    text = f"从事专业类别：{main or ''}"
    return text + (f"；其他专业类别：{'、'.join(str(s) for s in extra)}" if extra else "")


# ---------------------------------------------------------------- check and apply

def form_data(expert: Expert) -> dict:
    """What the 修改 page starts from: the saved record. The wizard's 续聘 lock is not 修改's:
    after admission, the locks are this module's."""
    return {**app_service.form_from_record(expert), "admission_type": ""}


def skipped(session: Session, expert: Expert) -> set[str]:
    """Fields and sections that 修改 neither reads nor changes for this expert now."""
    return set(locked_fields(session, expert)) | set(frozen_sections(session, expert))


def check(session: Session, expert: Expert, values: dict, invalid: Collection[str] = ()) -> dict:
    """Clean values of what may change, or StepErrors for the fields (``values`` plain, as
    ``application.check_step1`` takes them)."""
    return app_service.check_step1(session, expert, {**values, "admission_type": ""},
                                   skip=skipped(session, expert), invalid=invalid)


def apply(session: Session, expert: Expert, clean: dict, actor_id: int) -> list[ProfileChange]:
    """Write the changes; record each; a change of 专业 is held for review instead."""
    if not can_modify(expert):
        raise StepErrors({"__all__": "入库审核通过后方可修改信息"})
    now = utcnow()
    before = _snapshot(expert)
    changes: list[ProfileChange] = []
    basic = clean["basic"]
    if "main_specialty" in basic:
        main = basic.pop("main_specialty")
        extra = basic.pop("extra_specialties", [])
        if main != expert.main_specialty or set(extra) != set(expert.extra_specialties):
            change = ProfileChange(
                expert=expert, section="专业技术", field=SPECIALTY_FIELD,
                before=_specialty_text(expert.main_specialty, list(expert.extra_specialties)),
                after=_specialty_text(main, extra), status=ChangeStatus.PENDING.value,
                requested=json.dumps({"main_specialty": main.id if main else None,
                                      "extra_specialties": [s.id for s in extra]}),
                changed_at=now, changed_by_id=actor_id)
            session.add(change)
            changes.append(change)
    app_service.apply_step1(session, expert, clean)
    after = _snapshot(expert)
    first_professional = [f.name for f in BASIC].index(FIRST_PROFESSIONAL)
    labels = {f.name: ("基本信息" if i < first_professional else "专业技术", f.label)
              for i, f in enumerate(BASIC)}
    labels.update({s.name: (s.label, s.label) for s in SECTIONS})
    for name, (section, label) in labels.items():
        if before.get(name) != after.get(name):
            change = ProfileChange(expert=expert, section=section, field=label,
                                   before=before.get(name), after=after.get(name),
                                   status=ChangeStatus.APPLIED.value, changed_at=now,
                                   changed_by_id=actor_id)
            session.add(change)
            changes.append(change)
    return changes


def review_specialty(session: Session, change: ProfileChange, action: str, *, actor_kind: str,
                     actor_id: int | None, opinion: str | None = None) -> None:
    """通过 sets the requested 专业; 驳回 / 撤回 leave the profile as it is."""
    expert = change.expert
    if change.field != SPECIALTY_FIELD:
        raise TransitionError("该修改无需审核")
    decide(change, action, actor_kind=actor_kind, actor_id=actor_id,
           owner_user_id=expert.user_id, opinion=opinion)
    if action != "approve":
        return
    wanted = json.loads(change.requested or "{}")
    main_id = wanted.get("main_specialty")
    expert.main_specialty = session.get(Specialty, main_id) if main_id else None
    expert.extra_specialties = [s for s in (session.get(Specialty, i)
                                            for i in wanted.get("extra_specialties", [])) if s]
    expert.version = (expert.version or 0) + 1
