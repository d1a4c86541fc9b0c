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
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    AdmissionType,
    ApplicationDraft,
    Attachment,
    AvoidanceUnit,
    BankAccount,
    Degree,
    Education,
    EducationLevel,
    EvaluationExperience,
    Expert,
    Expertise,
    ExpertStatus,
    PoliticalStatus,
    Prefecture,
    Qualification,
    Specialty,
    StoredFile,
    Title,
    TitleLevel,
    WorkExperience,
    utcnow,
)
from app.services import validators as v
from app.services.expert_status import TransitionError, transition
from app.services.experts import prepare_changed_expert

STEPS = ("填写基本信息", "选择入库类型", "上传申请表", "提交")
RENEWAL_NOTE = "2024年第一批、第二批经报名选聘入库专家在入库类型处，请选择【续聘】"
RENEWAL_LOCK_NOTE = (
    "所有专家完善所在地州、单位和申报专业信息时仍选择初次选聘入库时的地州、申报专业和所在单位；"
    "如需变更，待完成继续教育、考试后再在系统单独【异动申请】或【修改】")
EDITABLE = {ExpertStatus.DRAFT.value, ExpertStatus.RETURNED.value}


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text, date, select, multi, bool, file, textarea
    required: bool = False
    source: type | None = None  # reference table for selects
    upload_kind: str | None = None
    check: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class Section:
    name: str
    label: str
    model: type
    fields: tuple[Field, ...]
    min_rows: int = 0


BASIC = (
    Field("name", "姓名", required=True),
    Field("political_status", "政治面貌", "select", True, PoliticalStatus),
    Field("prefecture", "所在市州", "select", True, Prefecture),
    Field("address", "详细地址"),
    Field("email", "本人电子邮箱", required=True, check=v.validate_email),
    Field("phone", "本人手机号码", required=True, check=v.validate_phone),
    Field("backup_phone", "本人备用手机号码", required=True, check=v.validate_phone),
    Field("accepts_remote", "是否接受远程异地评标", "bool", True),
    Field("emergency_expert", "是否愿意成为应急专家", "bool", True),
    Field("photo_file", "一寸免冠照(近期照)", "file", True, upload_kind="photo"),
    Field("id_front_file", "身份证人像面", "file", True, upload_kind="id_front"),
    Field("id_back_file", "身份证国徽面", "file", True, upload_kind="id_back"),
    Field("employer", "工作单位", required=True),
    Field("main_specialty", "从事专业类别", "select", True, Specialty),
    Field("extra_specialties", "其他专业类别", "multi", False, Specialty),
    Field("title", "职称", "select", True, Title),
    Field("title_cert_file", "职称证书文件", "file", True, upload_kind="title_certificate"),
)
# Shown, never posted: they come from the ID number and the account.
FIXED = ("name", "id_number", "gender", "birth_date")
RENEWAL_LOCKED = ("prefecture", "employer", "main_specialty")

SECTIONS = (
    Section("educations", "教育经历", Education, (
        Field("education_level", "学历", "select", True, EducationLevel),
        Field("degree", "学位", "select", True, Degree),
        Field("school", "毕业院校", required=True),
        Field("major", "专业名称", required=True),
        Field("start_date", "开始时间", "date", True),
        Field("end_date", "结束时间", "date", True),
        Field("proof_file", "学历证明文件", "file", True, upload_kind="education_proof"),
    ), min_rows=1),
    Section("qualifications", "职称及资质", Qualification, (
        Field("name", "职称/资质名称", required=True),
        Field("title_level", "级别", "select", False, TitleLevel),
        Field("is_registered", "注册执业资格", "bool"),
        Field("certificate_no", "证书编号"),
        Field("issue_date", "发证日期", "date"),
        Field("file", "证书文件", "file", False, upload_kind="qualification"),
    )),
    Section("work_experiences", "工作经历", WorkExperience, (
        Field("start_date", "开始时间", "date", True),
        Field("end_date", "结束时间", "date"),
        Field("employer", "工作单位", required=True),
        Field("position", "职务"),
        Field("referee", "证明人"),
    ), min_rows=1),
    Section("evaluation_experiences", "评标实践经验", EvaluationExperience, (
        Field("evaluated_on", "评标日期", "date"),
        Field("project_name", "项目名称", required=True),
        Field("tenderer", "招标人"),
        Field("role", "担任角色"),
    )),
    Section("expertises", "业务技术专长", Expertise, (
        Field("content", "业务技术专长", "textarea", True),
    )),
    Section("avoidance_units", "回避单位", AvoidanceUnit, (
        Field("name", "单位名称", required=True),
        Field("credit_code", "统一社会信用代码", check=v.validate_credit_code),
        Field("reason", "回避原因"),
    )),
    Section("bank_accounts", "账户信息", BankAccount, (
        Field("bank_name", "开户银行", required=True),
        Field("account_no", "银行账号", required=True),
        Field("holder", "户名", required=True),
    )),
    Section("attachments", "附件", Attachment, (
        Field("title", "附件名称", required=True),
        Field("file", "文件", "file", True, upload_kind="attachment"),
    )),
)
SECTION_BY_NAME = {s.name: s for s in SECTIONS}


class StepErrors(Exception):
    """Errors keyed by input name ('b_email', 'educations-0-school', 'educations')."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


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


def form_from_record(expert: Expert) -> dict:
    """The wizard's data as strings, taken from the saved record."""
    basic = {f.name: _raw(getattr(expert, f.name)) for f in BASIC if f.kind != "multi"}
    basic["extra_specialties"] = [str(s.id) for s in expert.extra_specialties]
    sections = {}
    for section in SECTIONS:
        rows = getattr(expert, section.name)
        if section.name == "avoidance_units":
            rows = [r for r in rows if not r.is_employer]
        sections[section.name] = [{f.name: _raw(getattr(r, f.name)) for f in section.fields}
                                  for r in rows]
    return {"basic": basic, "sections": sections, "admission_type": expert.admission_type or "",
            "step": 1}


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


def _is_file_id(raw: Any) -> bool:
    """An id a row can have (a stored file's, a reference list's)."""
    from app.models import MAX_DB_INT

    return (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 10
            and 0 < int(raw) <= MAX_DB_INT)


def _drop_broken_file_ids(data: dict) -> None:
    """The pages link every kept upload by its id: a draft saved with something else in a
    file field (letters, an id no column holds) has it emptied, so its page renders."""
    basic = data.get("basic", {})
    for f in BASIC:
        if f.kind == "file" and basic.get(f.name) and not _is_file_id(basic[f.name]):
            basic[f.name] = ""
    for section in SECTIONS:
        for row in data["sections"].get(section.name) or []:
            for f in section.fields:
                if f.kind == "file" and row.get(f.name) and not _is_file_id(row[f.name]):
                    row[f.name] = ""


def save_draft(session: Session, expert: Expert, data: dict) -> None:
    draft = session.get(ApplicationDraft, expert.id)
    payload = json.dumps(data, ensure_ascii=False)
    if draft is None:
        session.add(ApplicationDraft(expert_id=expert.id, data=payload, updated_at=utcnow()))
    else:
        draft.data = payload
        draft.updated_at = utcnow()


def default_admission_type(expert: Expert) -> str:
    """2024年第一批、第二批 experts are 续聘 (the manual's instruction)."""
    if expert.admission_batch and expert.admission_batch.startswith("2024"):
        return AdmissionType.RENEWAL.value
    return expert.admission_type or ""


def is_renewal(data: dict) -> bool:
    return data.get("admission_type") == AdmissionType.RENEWAL.value


def can_edit(expert: Expert) -> bool:
    return expert.status in EDITABLE


# ---------------------------------------------------------------- step 1

def _lookup(session: Session, model: type, raw: str):
    # what a draft keeps is as typed: letters or an id no column holds find nothing
    if not _is_file_id(raw if isinstance(raw, str) else str(raw)):
        return None
    return session.get(model, int(raw))


def _parse_date(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise v.ValidationError("日期格式应为 年-月-日，如 2001-03-01") from None


def _file_for(session: Session, raw: str, owner_id: int) -> StoredFile | None:
    stored = _lookup(session, StoredFile, raw)
    # only the expert's own uploads can be attached to their application
    return stored if stored is not None and stored.owner_id == owner_id else None


def _clean_field(session: Session, f: Field, raw: Any, owner_id: int) -> Any:
    """The value for the record, or ValidationError with the message for the field."""
    if f.kind == "multi":
        return [s for s in (_lookup(session, f.source, r) for r in (raw or [])) if s is not None]
    raw = (raw or "").strip() if isinstance(raw, str) else raw
    if raw in ("", None):
        if f.required:
            verb = "请上传" if f.kind == "file" else ("请选择" if f.kind in ("select", "bool") else "请填写")
            raise v.ValidationError(f"{verb}{f.label}")
        return False if f.kind == "bool" and not f.required else None
    if f.kind == "select":
        obj = _lookup(session, f.source, raw)
        if obj is None:
            raise v.ValidationError(f"请选择有效的{f.label}")
        return obj
    if f.kind == "file":
        stored = _file_for(session, raw, owner_id)
        if stored is None:
            raise v.ValidationError(f"请重新上传{f.label}")
        return stored
    if f.kind == "bool":
        if raw not in ("0", "1"):
            raise v.ValidationError(f"请选择{f.label}")
        return raw == "1"
    if f.kind == "date":
        day = _parse_date(raw)
        if day > dt.date.today():
            raise v.ValidationError(f"{f.label}不能晚于今天")
        return day
    if f.check:
        return f.check(raw)
    if len(raw) > 200:
        raise v.ValidationError(f"{f.label}过长")
    return raw


def check_step1(session: Session, expert: Expert, data: dict,
                skip: Collection[str] = ()) -> dict:
    """Clean values of step 1, or StepErrors with a message for each bad input. Fields and
    sections named in ``skip`` (or locked for 续聘) are neither checked nor returned."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {"basic": {}, "sections": {}}
    skip = set(skip) | set(RENEWAL_LOCKED if is_renewal(data) else ())
    owner = expert.user_id
    for f in BASIC:
        if f.name == "name" or f.name in skip:
            continue
        try:
            clean["basic"][f.name] = _clean_field(session, f, data["basic"].get(f.name), owner)
        except v.ValidationError as exc:
            errors[f"b_{f.name}"] = exc.message
    phone = clean["basic"].get("phone")
    if phone:
        taken = session.execute(
            select(Expert.id).where(Expert.phone == phone, Expert.id != expert.id)).first()
        if taken:
            errors["b_phone"] = "该手机号码已被其他专家使用"
    for section in SECTIONS:
        if section.name in skip:
            continue
        rows = data["sections"].get(section.name, [])
        clean_rows = []
        for i, row in enumerate(rows):
            clean_row = {}
            for f in section.fields:
                try:
                    clean_row[f.name] = _clean_field(session, f, row.get(f.name), owner)
                except v.ValidationError as exc:
                    errors[f"{section.name}-{i}-{f.name}"] = exc.message
            if "start_date" in clean_row and clean_row.get("end_date") and clean_row.get("start_date"):
                if clean_row["start_date"] > clean_row["end_date"]:
                    errors[f"{section.name}-{i}-end_date"] = "开始时间不能晚于结束时间"
            clean_rows.append(clean_row)
        if len(rows) < section.min_rows:
            errors[section.name] = f"请至少填写一条{section.label}"
        clean["sections"][section.name] = clean_rows
    if errors:
        raise StepErrors(errors)
    return clean


def apply_step1(session: Session, expert: Expert, clean: dict) -> None:
    for name, value in clean["basic"].items():
        setattr(expert, name, value)
    for section in SECTIONS:
        if section.name not in clean["sections"]:
            continue
        rows = clean["sections"][section.name]
        current = getattr(expert, section.name)
        keep = [r for r in current if section.name == "avoidance_units" and r.is_employer]
        current[:] = keep + [section.model(**row) for row in rows]
    prepare_changed_expert(expert)


# ---------------------------------------------------------------- steps 2 to 4

def check_step2(data: dict) -> str:
    value = data.get("admission_type", "")
    if value not in {t.value for t in AdmissionType}:
        raise StepErrors({"admission_type": "请选择入库类型"})
    return value


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
    data = form_from_record(expert)
    data["admission_type"] = expert.admission_type or ""
    missing = []
    try:
        check_step1(session, expert, data)
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
    today = today or dt.date.today()
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
    on = on or (expert.submitted_at.date() if expert.submitted_at else dt.date.today())
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


class StaleVersion(Exception):
    message = "申请人在您打开页面后修改了申请，请刷新页面查看最新内容后再审核（您填写的意见已保留）"


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


