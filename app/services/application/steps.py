"""The wizard's steps: 下一步 checks a step and, when it is valid, writes it to the record;
提交审核 once nothing is missing. 【修改】 (app/services/profile.py) checks and writes through
the same step 1."""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Boolean, inspect, select
from sqlalchemy.orm import Session

from app.models import AdmissionType, ApplicationDraft, Expert, StoredFile, utcnow
from app.services.access import own_file
from app.services.application.draft import locked_for, values_from_record
from app.services.application.rules import (
    BASIC,
    FIXED,
    SECTIONS,
    STEPS,
    FieldRule,
    StepErrors,
    is_id,
)
from app.services.expert_status import TransitionError, transition
from app.services.experts import prepare_changed_expert
from app.services.validators import ValidationError

# ---------------------------------------------------------------- step 1

def _clean_value(session: Session, model: type, rule: FieldRule, value: Any, owner_id: int) -> Any:
    """The value for the record: references and files by id become their rows (a file must
    be the expert's own upload); ValidationError with the field's message when it is
    missing (and needed) or names nothing the expert may use."""
    mapper = inspect(model)
    relation = mapper.relationships.get(rule.name)
    empty = value is None or value == "" or value == []
    if relation is not None and relation.mapper.class_ is StoredFile:
        if empty:
            if rule.required:
                raise ValidationError(f"请上传{rule.label}")
            return None
        stored = own_file(session, value, owner_id) if is_id(value) else None
        if stored is None:
            raise ValidationError(f"请重新上传{rule.label}")
        return stored
    if relation is not None and relation.uselist:
        target = relation.mapper.class_
        return [row for row in (session.get(target, int(i)) for i in (value or []) if is_id(i))
                if row is not None]
    if relation is not None:
        if empty:
            if rule.required:
                raise ValidationError(f"请选择{rule.label}")
            return None
        row = session.get(relation.mapper.class_, int(value)) if is_id(value) else None
        if row is None:
            raise ValidationError(f"请选择有效的{rule.label}")
        return row
    is_bool = isinstance(mapper.columns[rule.name].type, Boolean)
    if empty:
        if rule.required:
            raise ValidationError(f"请选择{rule.label}" if is_bool else f"请填写{rule.label}")
        return False if is_bool else None
    return value


def check_step1(session: Session, expert: Expert, values: dict,
                skip: Collection[str] = (), invalid: Collection[str] = ()) -> dict:
    """Clean values of step 1 (or 【修改】), or StepErrors with a message for each bad field.

    ``values`` are plain: text, dates, booleans, ids of references and of uploads (the
    forms have checked their formats). Fields and sections named in ``skip`` (or locked for
    续聘) are neither checked nor returned; ``invalid`` ones already have a message."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {"basic": {}, "sections": {}}
    skip = set(skip) | set(locked_for(values))
    owner = expert.user_id
    basic = values.get("basic", {})
    for rule in BASIC:
        if rule.name in FIXED or rule.name in skip or rule.name in invalid:
            continue
        try:
            clean["basic"][rule.name] = _clean_value(session, Expert, rule, basic.get(rule.name),
                                                     owner)
        except ValidationError as exc:
            errors[rule.name] = exc.message
    phone = clean["basic"].get("phone")
    if phone:
        taken = session.execute(
            select(Expert.id).where(Expert.phone == phone, Expert.id != expert.id)).first()
        if taken:
            errors["phone"] = "该手机号码已被其他专家使用"
    for section in SECTIONS:
        if section.name in skip:
            continue
        rows = values.get("sections", {}).get(section.name, [])
        clean_rows = []
        for i, row in enumerate(rows):
            clean_row = {}
            for rule in section.fields:
                key = f"{section.name}-{i}-{rule.name}"
                if key in invalid:
                    continue
                try:
                    clean_row[rule.name] = _clean_value(session, section.model, rule,
                                                        row.get(rule.name), owner)
                except ValidationError as exc:
                    errors[key] = exc.message
            clean_rows.append(clean_row)
        if len(rows) < section.min_rows:
            errors[section.name] = f"请至少填写一条{section.label}"
        clean["sections"][section.name] = clean_rows
    if errors or invalid:
        raise StepErrors(errors)
    return clean


def apply_step1(session: Session, expert: Expert, clean: dict) -> None:
    for name, value in clean["basic"].items():
        setattr(expert, name, value)
    for section in SECTIONS:
        if section.name not in clean["sections"]:
            continue
        current = getattr(expert, section.name)
        keep = [r for r in current if section.name == "avoidance_units" and r.is_employer]
        current[:] = keep + [section.model(**row) for row in clean["sections"][section.name]]
    prepare_changed_expert(expert)
    session.flush()


# ---------------------------------------------------------------- steps 2 to 4

def check_step2(admission_type: str | None) -> str:
    if admission_type not in {t.value for t in AdmissionType}:
        raise StepErrors({"admission_type": "请选择入库类型"})
    return admission_type


def apply_step2(expert: Expert, admission_type: str) -> None:
    expert.admission_type = admission_type
    if admission_type == AdmissionType.RENEWAL.value:
        # 续聘: back to the first appointment's 市州, 工作单位 and 申报专业
        expert.prefecture = expert.first_prefecture or expert.prefecture
        expert.employer = expert.first_employer or expert.employer
        expert.main_specialty = expert.first_specialty or expert.main_specialty
    prepare_changed_expert(expert)


def check_step3(expert: Expert) -> None:
    if expert.signed_form_file is None:
        raise StepErrors({"signed_form": "请上传签字盖章后的申请表（PDF 或图片）"})


def attach_signed_form(expert: Expert, stored: StoredFile) -> None:
    expert.signed_form_file = stored
    expert.version = (expert.version or 0) + 1


def missing_for_submission(session: Session, expert: Expert) -> list[str]:
    """What still stops 提交审核, each named as the expert will find it."""
    values = {**values_from_record(expert), "admission_type": expert.admission_type or ""}
    missing = []
    try:
        check_step1(session, expert, values)
    except StepErrors as exc:
        missing.append(f"{STEPS[0]}：尚有{len(exc.errors)}处未填写或不正确")
    if not expert.admission_type:
        missing.append(f"{STEPS[1]}：请选择入库类型")
    if expert.signed_form_file is None:
        missing.append(f"{STEPS[2]}：请上传签字盖章的申请表")
    return missing


def submit(session: Session, expert: Expert, actor_id: int) -> None:
    missing = missing_for_submission(session, expert)
    if missing:
        raise TransitionError("；".join(missing))
    transition(expert, "submit", actor_kind="expert", actor_id=actor_id)
    expert.submitted_at = utcnow()
    draft = session.get(ApplicationDraft, expert.id)
    if draft is not None:
        session.delete(draft)
