"""The profile's fields and sections as the rules see them (their words and what 提交 needs),
the wizard's steps and notes, and the refusal of a step."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.models import (
    MAX_DB_INT,
    Attachment,
    AvoidanceUnit,
    BankAccount,
    Education,
    EvaluationExperience,
    Expertise,
    ExpertStatus,
    Qualification,
    WorkExperience,
)
from app.services.errors import DomainError
from app.services.messages import N_

STEPS = (N_("填写基本信息"), N_("选择入库类型"), N_("上传申请表"), N_("提交"))
RENEWAL_NOTE = N_("2024年第一批、第二批经报名选聘入库专家在入库类型处，请选择【续聘】")
RENEWAL_LOCK_NOTE = N_(
    "所有专家完善所在地州、单位和申报专业信息时仍选择初次选聘入库时的地州、申报专业和所在单位；"
    "如需变更，待完成继续教育、考试后再在系统单独【异动申请】或【修改】")
EDITABLE = {ExpertStatus.DRAFT.value, ExpertStatus.RETURNED.value}
# An INTEGER column's largest value: a larger "id" names nothing (and PostgreSQL refuses it).
_MAX_ID = MAX_DB_INT


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


def is_id(raw: Any) -> bool:
    """An id a row can have (a stored file's, a reference list's): digits a column holds."""
    if isinstance(raw, bool):
        return False
    if isinstance(raw, int):
        return 0 < raw <= _MAX_ID
    return (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 10
            and 0 < int(raw) <= _MAX_ID)


class StepErrors(DomainError):
    """A step refused: ``errors`` keyed by the field ('email', 'educations-0-school') or the
    section ('educations'); the form comes back with each message beside its input."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("请按提示修改标红的项目", errors=errors)
