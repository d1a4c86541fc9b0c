"""专家入库申请: the four-step wizard's rules, written once.

Step 1 填写基本信息 (basic information and every profile tab), step 2 选择入库类型,
step 3 上传申请表 (the signed and stamped form), step 4 提交 (提交审核). 暂存 keeps
everything as typed, valid or not (table application_draft); 下一步 checks the step
and, when it is valid, writes it to the expert's record. Reviews go through
``review`` with an optimistic lock on the expert's version.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, func, inspect, select
from sqlalchemy.orm import Session

from app.models import (
    AdmissionType,
    ApplicationDraft,
    Attachment,
    AvoidanceUnit,
    BankAccount,
    Education,
    EvaluationExperience,
    Expert,
    Expertise,
    ExpertStatus,
    Qualification,
    StoredFile,
    WorkExperience,
    beijing_today,
    utcnow,
)
from app.services.access import own_file
from app.services.errors import Conflict, DomainError
from app.services.expert_status import TransitionError, transition
from app.services.experts import prepare_changed_expert

STEPS = ("填写基本信息", "选择入库类型", "上传申请表", "提交")
RENEWAL_NOTE = "2024年第一批、第二批经报名选聘入库专家在入库类型处，请选择【续聘】"
RENEWAL_LOCK_NOTE = (
    "所有专家完善所在地州、单位和申报专业信息时仍选择初次选聘入库时的地州、申报专业和所在单位；"
    "如需变更，待完成继续教育、考试后再在系统单独【异动申请】或【修改】")
EDITABLE = {ExpertStatus.DRAFT.value, ExpertStatus.RETURNED.value}
# An INTEGER column's largest value: a larger "id" names nothing (and PostgreSQL refuses it).
_MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class FieldRule:
    """A field of the profile: its attribute on the record, the manual's word for it (in the
    messages, the change records and the forms' labels) and whether 提交 needs it. What kind
    of value it holds is the model's (a reference, a stored file, a yes/no, a date, text)."""

    name: str
    label: str
    required: bool = False


@dataclass(frozen=True)
class Section:
    """A repeating part of the profile (教育经历, ...): one row of ``model`` per entry."""

    name: str
    label: str
    model: type
    fields: tuple[FieldRule, ...]
    min_rows: int = 0


F = FieldRule
BASIC = (
    F("name", "姓名", True),
    F("political_status", "政治面貌", True),
    F("prefecture", "所在市州", True),
    F("address", "详细地址"),
    F("email", "本人电子邮箱", True),
    F("phone", "本人手机号码", True),
    F("backup_phone", "本人备用手机号码", True),
    F("accepts_remote", "是否接受远程异地评标", True),
    F("emergency_expert", "是否愿意成为应急专家", True),
    F("photo_file", "一寸免冠照(近期照)", True),
    F("id_front_file", "身份证人像面", True),
    F("id_back_file", "身份证国徽面", True),
    # 专业技术 from here on (the profile's second tab)
    F("employer", "工作单位", True),
    F("main_specialty", "从事专业类别", True),
    F("extra_specialties", "其他专业类别"),
    F("title", "职称", True),
    F("title_cert_file", "职称证书文件", True),
)
FIRST_PROFESSIONAL = "employer"
BASIC_BY_NAME = {f.name: f for f in BASIC}
# Shown, never posted: they come from the ID number and the account.
FIXED = ("name", "id_number", "gender", "birth_date")
RENEWAL_LOCKED = ("prefecture", "employer", "main_specialty")

SECTIONS = (
    Section("educations", "教育经历", Education, (
        F("education_level", "学历", True), F("degree", "学位", True),
        F("school", "毕业院校", True), F("major", "专业名称", True),
        F("start_date", "开始时间", True), F("end_date", "结束时间", True),
        F("proof_file", "学历证明文件", True),
    ), min_rows=1),
    Section("qualifications", "职称及资质", Qualification, (
        F("name", "职称/资质名称", True), F("title_level", "级别"),
        F("is_registered", "注册执业资格"), F("certificate_no", "证书编号"),
        F("issue_date", "发证日期"), F("file", "证书文件"),
    )),
    Section("work_experiences", "工作经历", WorkExperience, (
        F("start_date", "开始时间", True), F("end_date", "结束时间"),
        F("employer", "工作单位", True), F("position", "职务"), F("referee", "证明人"),
    ), min_rows=1),
    Section("evaluation_experiences", "评标实践经验", EvaluationExperience, (
        F("evaluated_on", "评标日期"), F("project_name", "项目名称", True),
        F("tenderer", "招标人"), F("role", "担任角色"),
    )),
    Section("expertises", "业务技术专长", Expertise, (
        F("content", "业务技术专长", True),
    )),
    Section("avoidance_units", "回避单位", AvoidanceUnit, (
        F("name", "单位名称", True), F("credit_code", "统一社会信用代码"),
        F("reason", "回避原因"),
    )),
    Section("bank_accounts", "账户信息", BankAccount, (
        F("bank_name", "开户银行", True), F("account_no", "银行账号", True),
        F("holder", "户名", True),
    )),
    Section("attachments", "附件", Attachment, (
        F("title", "附件名称", True), F("file", "文件", True),
    )),
)
SECTION_BY_NAME = {s.name: s for s in SECTIONS}
MAX_ROWS = 50


class StepErrors(DomainError):
    """A step refused: ``errors`` keyed by the field ('email', 'educations-0-school') or the
    section ('educations'); the form comes back with each message beside its input."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("请按提示修改标红的项目", errors=errors)


# ---------------------------------------------------------------- drafts

def _raw(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "id"):
        return str(value.id)
    return str(value)


def _rows(expert: Expert, section: Section) -> list[Any]:
    rows = getattr(expert, section.name)
    if section.name == "avoidance_units":  # the employer's row is kept by the record itself
        rows = [r for r in rows if not r.is_employer]
    return rows


def form_from_record(expert: Expert) -> dict:
    """The wizard's data as strings (what a draft keeps), taken from the saved record."""
    basic = {f.name: _raw(getattr(expert, f.name)) for f in BASIC if f.name != "extra_specialties"}
    basic["extra_specialties"] = [str(s.id) for s in expert.extra_specialties]
    sections = {s.name: [{f.name: _raw(getattr(r, f.name)) for f in s.fields} for r in _rows(expert, s)]
                for s in SECTIONS}
    return {"basic": basic, "sections": sections, "admission_type": expert.admission_type or "",
            "step": 1}


def values_from_record(expert: Expert) -> dict:
    """The saved record as the checks take it: references and files by id."""
    def plain(value: Any) -> Any:
        if isinstance(value, list):
            return [v.id for v in value]
        return value.id if hasattr(value, "id") else value

    return {"basic": {f.name: plain(getattr(expert, f.name)) for f in BASIC},
            "sections": {s.name: [{f.name: plain(getattr(r, f.name)) for f in s.fields}
                                  for r in _rows(expert, s)] for s in SECTIONS}}


def load(session: Session, expert: Expert) -> dict:
    """What the wizard shows: the draft if there is one, else the saved record."""
    draft = session.get(ApplicationDraft, expert.id)
    data = json.loads(draft.data) if draft else form_from_record(expert)
    if not data.get("admission_type"):
        data["admission_type"] = default_admission_type(expert)
    for section in SECTIONS:
        data["sections"].setdefault(section.name, [])
    _drop_broken_file_ids(data)
    return data


def is_id(raw: Any) -> bool:
    """An id a row can have (a stored file's, a reference list's): digits a column holds."""
    if isinstance(raw, bool):
        return False
    if isinstance(raw, int):
        return 0 < raw <= _MAX_ID
    return (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 10
            and 0 < int(raw) <= _MAX_ID)


def _file_fields(model: type) -> set[str]:
    return {r.key for r in inspect(model).relationships if r.mapper.class_ is StoredFile}


def _drop_broken_file_ids(data: dict) -> None:
    """The pages link every kept upload by its id: a draft saved with something else in a
    file field (letters, an id no column holds) has it emptied, so its page renders."""
    basic = data.get("basic", {})
    for name in _file_fields(Expert) & BASIC_BY_NAME.keys():
        if basic.get(name) and not is_id(basic[name]):
            basic[name] = ""
    for section in SECTIONS:
        files = _file_fields(section.model)
        for row in data["sections"].get(section.name) or []:
            for name in files:
                if row.get(name) and not is_id(row[name]):
                    row[name] = ""


def save_draft(session: Session, expert: Expert, data: dict) -> None:
    """暂存: what was typed, valid or not, as it was typed."""
    draft = session.get(ApplicationDraft, expert.id)
    payload = json.dumps(data, ensure_ascii=False)
    if draft is None:
        session.add(ApplicationDraft(expert_id=expert.id, data=payload, updated_at=utcnow()))
    else:
        draft.data = payload
        draft.updated_at = utcnow()
    session.flush()


def default_admission_type(expert: Expert) -> str:
    """2024年第一批、第二批 experts are 续聘 (the manual's instruction)."""
    if expert.admission_batch and expert.admission_batch.startswith("2024"):
        return AdmissionType.RENEWAL.value
    return expert.admission_type or ""


def is_renewal(data: dict) -> bool:
    return data.get("admission_type") == AdmissionType.RENEWAL.value


def can_edit(expert: Expert) -> bool:
    return expert.status in EDITABLE


def locked_for(data: dict) -> tuple[str, ...]:
    """Fields step 1 neither reads nor changes: 续聘 keeps the first appointment's."""
    return RENEWAL_LOCKED if is_renewal(data) else ()


def add_row(data: dict, section_name: str) -> None:
    """添加 a row to a section of the draft (at most MAX_ROWS)."""
    rows = data["sections"].setdefault(section_name, [])
    if section_name in SECTION_BY_NAME and len(rows) < MAX_ROWS:
        rows.append({f.name: "" for f in SECTION_BY_NAME[section_name].fields})


def remove_row(data: dict, section_name: str, index: int) -> None:
    rows = data["sections"].get(section_name, [])
    if 0 <= index < len(rows):
        rows.pop(index)


# ---------------------------------------------------------------- step 1

def _clean_value(session: Session, model: type, rule: FieldRule, value: Any, owner_id: int) -> Any:
    """The value for the record: references and files by id become their rows (a file must
    be the expert's own upload). Raises ValidationError-like StepErrors messages."""
    mapper = inspect(model)
    relation = mapper.relationships.get(rule.name)
    empty = value is None or value == "" or value == []
    if relation is not None and relation.mapper.class_ is StoredFile:
        if empty:
            if rule.required:
                raise _Missing(f"请上传{rule.label}")
            return None
        stored = own_file(session, value, owner_id) if is_id(value) else None
        if stored is None:
            raise _Missing(f"请重新上传{rule.label}")
        return stored
    if relation is not None and relation.uselist:
        target = relation.mapper.class_
        return [row for row in (session.get(target, int(i)) for i in (value or []) if is_id(i))
                if row is not None]
    if relation is not None:
        if empty:
            if rule.required:
                raise _Missing(f"请选择{rule.label}")
            return None
        row = session.get(relation.mapper.class_, int(value)) if is_id(value) else None
        if row is None:
            raise _Missing(f"请选择有效的{rule.label}")
        return row
    is_bool = isinstance(mapper.columns[rule.name].type, Boolean)
    if empty:
        if rule.required:
            raise _Missing(f"请选择{rule.label}" if is_bool else f"请填写{rule.label}")
        return False if is_bool else None
    return value


class _Missing(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


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
        except _Missing as exc:
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
                except _Missing as exc:
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


# ---------------------------------------------------------------- review

@dataclass(frozen=True)
class RuleSettings:
    max_age: int = 70
    min_work_years: int = 8


@dataclass
class Flag:
    rule: str
    ok: bool
    detail: str


def work_years(expert: Expert, today: dt.date | None = None) -> float:
    """Years covered by 工作经历, overlaps counted once."""
    today = today or beijing_today()
    spans = sorted((w.start_date, w.end_date or today) for w in expert.work_experiences
                   if w.start_date)
    total, cur_start, cur_end = 0, None, None
    for start, end in spans:
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += (cur_end - cur_start).days
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += (cur_end - cur_start).days
    return round(total / 365.25, 1)


def rule_flags(expert: Expert, settings: RuleSettings, on: dt.date | None = None) -> list[Flag]:
    """The admission rules, shown to the reviewer as flags: nothing is blocked silently."""
    on = on or (expert.submitted_at.date() if expert.submitted_at else beijing_today())
    age = expert.age(on)
    flags = [Flag("年龄", age is not None and age <= settings.max_age,
                  f"申请时{age}岁（上限{settings.max_age}岁）" if age is not None else "出生年月未知")]
    level = expert.title.level if expert.title else None
    registered = any(q.is_registered for q in expert.qualifications)
    title_ok = bool(level and (level.senior or (level.name == "中级" and registered)))
    flags.append(Flag("职称", title_ok, f"{expert.title or '未填写'}（{level or '-'}）"
                      + ("，有注册执业资格" if registered else "")))
    years = work_years(expert, on)
    flags.append(Flag("工作年限", years >= settings.min_work_years,
                      f"{years}年（至少{settings.min_work_years}年）"))
    return flags


class StaleVersion(Conflict):
    """The reviewer saw an older version than the one stored (409)."""

    def __init__(self) -> None:
        super().__init__("申请人在您打开页面后修改了申请，请刷新页面查看最新内容后再审核（您填写的意见已保留）")


def next_expert_no(session: Session, year: int) -> str:
    """专家编号 XJ + year + a six-digit sequence that restarts each year: XJ2025000001."""
    prefix = f"XJ{year}"
    last = session.execute(
        select(func.max(Expert.expert_no)).where(Expert.expert_no.like(prefix + "%"))
    ).scalar()
    seq = int(last[len(prefix):]) + 1 if last else 1
    return f"{prefix}{seq:06d}"


def review(session: Session, expert: Expert, action: str, *, reviewer_id: int,
           seen_version: int, opinion: str | None, section_opinions: dict[str, str] | None = None,
           actor_kind: str = "reviewer") -> None:
    """通过 or 退回 the version the reviewer saw; 通过 assigns the 专家编号."""
    if int(seen_version) != int(expert.version or 0):
        raise StaleVersion()
    notes = {k: val.strip() for k, val in (section_opinions or {}).items() if val and val.strip()}
    if action == "return" and not (opinion or "").strip() and notes:
        opinion = "；".join(f"{k}：{val}" for k, val in notes.items())
    record = transition(expert, action, actor_kind=actor_kind, actor_id=reviewer_id,
                        opinion=opinion)
    if notes:
        record.section_opinions = json.dumps(notes, ensure_ascii=False)
    if action == "approve" and not expert.expert_no:
        expert.expert_no = next_expert_no(session, utcnow().year)


