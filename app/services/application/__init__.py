"""专家入库申请: the four-step wizard's rules, written once.

Step 1 填写基本信息 (basic information and every profile tab), step 2 选择入库类型,
step 3 上传申请表 (the signed and stamped form), step 4 提交 (提交审核). 暂存 keeps
everything as typed, valid or not (table application_draft); 下一步 checks the step
and, when it is valid, writes it to the expert's record. Reviews go through
``review`` with an optimistic lock on the expert's version.

``rules`` (the profile's fields and sections, what 提交 needs), ``draft`` (暂存), ``steps``
(check and write each step, 提交审核), ``review`` (flags, 通过 / 退回, 专家编号). The rules
take plain values (text, dates, booleans, ids); the forms are the views' (app/views/_forms.py).
"""
from app.services.application.draft import (
    add_row,
    can_edit,
    default_admission_type,
    file_fields,
    form_from_record,
    is_renewal,
    load,
    locked_for,
    remove_row,
    save_draft,
    values_from_record,
)
from app.services.application.review import (
    Flag,
    RuleSettings,
    StaleVersion,
    next_expert_no,
    review,
    rule_flags,
    work_years,
)
from app.services.application.rules import (
    BASIC,
    BASIC_BY_NAME,
    EDITABLE,
    FIRST_PROFESSIONAL,
    FIXED,
    MAX_ROWS,
    RENEWAL_LOCK_NOTE,
    RENEWAL_LOCKED,
    RENEWAL_NOTE,
    SECTION_BY_NAME,
    SECTIONS,
    STEPS,
    FieldRule,
    Section,
    StepErrors,
    is_id,
)
from app.services.application.steps import (
    apply_step1,
    apply_step2,
    attach_signed_form,
    check_step1,
    check_step2,
    check_step3,
    missing_for_submission,
    submit,
)

__all__ = [
    "BASIC", "BASIC_BY_NAME", "EDITABLE", "FIRST_PROFESSIONAL", "FIXED", "MAX_ROWS",
    "RENEWAL_LOCKED", "RENEWAL_LOCK_NOTE", "RENEWAL_NOTE", "SECTIONS", "SECTION_BY_NAME", "STEPS",
    "FieldRule", "Flag", "RuleSettings", "Section", "StaleVersion", "StepErrors", "add_row",
    "apply_step1", "apply_step2", "attach_signed_form", "can_edit", "check_step1", "check_step2",
    "check_step3", "default_admission_type", "form_from_record", "is_id", "is_renewal", "load",
    "locked_for", "missing_for_submission", "next_expert_no", "remove_row", "review",
    "rule_flags", "save_draft", "file_fields", "submit", "values_from_record", "work_years",
]
