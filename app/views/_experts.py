"""What the registry's staff lists and the review queue share about experts: the columns'
words and the relations a list page loads, and the link the application form's QR code
opens. A helper module of the views layer (views never import each other)."""
from __future__ import annotations

from flask import current_app, url_for
from sqlalchemy.orm import selectinload

from app.models import Expert, Specialty

EXPERT_LABELS = {
    "application_no": "申请专家编号",
    "expert_no": "专家编号",
    "name": "姓名",
    "gender": "性别",
    "birth_date": "出生年月",
    "id_number": "身份证号",
    "id_number_masked": "身份证号",
    "political_status": "政治面貌",
    "prefecture": "所在市州",
    "address": "详细地址",
    "email": "本人电子邮箱",
    "phone": "本人手机号码",
    "phone_masked": "本人手机号码",
    "backup_phone": "本人备用手机号码",
    "backup_phone_masked": "本人备用手机号码",
    "accepts_remote": "是否接受远程异地评标",
    "emergency_expert": "是否愿意成为应急专家",
    "admission_type": "入库类型",
    "admission_batch": "入库批次",
    "employer": "工作单位",
    "main_specialty": "从事专业类别",
    "extra_specialties": "其他专业类别",
    "title": "职称",
    "status": "状态",
    "account": "账号",
    "created_on": "创建时间",
    "changed_on": "更新时间",
    "version": "版本",
}


# The relations the expert lists show: one query each per page, not one per row.
EXPERT_LIST_LOADS = (
    selectinload(Expert.prefecture),
    selectinload(Expert.main_specialty).selectinload(Specialty.parent),
    selectinload(Expert.title),
)


def review_url(expert: Expert) -> str:
    """What the application form's QR code opens: the application on the reviewers' screen."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    path = url_for("ApplicationReviewView.application", expert_id=expert.id)
    return base.rstrip("/") + path if base else url_for(
        "ApplicationReviewView.application", expert_id=expert.id, _external=True)
