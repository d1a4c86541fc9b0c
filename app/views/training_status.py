"""继续教育管理 → 培训情况: every enrolled expert of every round, one row per 我的培训 row
(expert × course × attempt): paid or not, 学习进度, 批阅状态, 补学, 培训完毕 and the round's
certificate. Read-only; filtered by round, payment, 培训完毕 and 所在市州; 导出 Excel."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import SelectField

from app.extensions import db
from app.fab_fixes import db_int
from app.models import (
    CertificateStatus,
    Course,
    Enrollment,
    Expert,
    PaymentStatus,
    Prefecture,
    ReviewStatus,
    TrainingRound,
)
from app.views.base import StaffModelView, add_menu_view, yes_no
from app.views.fastlist import CountCachingInterface
from app.views.widgets import BeijingTimesMixin


def payment_state(item: Enrollment) -> str:
    return (PaymentStatus.PAID if item.is_paid else PaymentStatus.UNPAID).value


def study_progress(item: Enrollment) -> str:
    """分钟 studied of those required, and the percentage."""
    required = item.course.required_minutes if item.course else 0
    minutes = (item.credited_seconds or 0) // 60
    if not required:
        return f"{minutes} 分钟"
    percent = min(100, minutes * 100 // required)
    return f"{minutes}/{required} 分钟（{percent}%）"


def certificate_no(item: Enrollment) -> str:
    """The valid certificate of the expert for this row's round."""
    round_id = item.course.round_id if item.course else None
    for cert in item.expert.certificates if item.expert else []:
        if cert.round_id == round_id and cert.status == CertificateStatus.VALID:
            return cert.number
    return ""


COMPUTED: dict[str, Callable[[Enrollment], Any]] = {
    "payment_state": payment_state,
    "study_progress": study_progress,
    "certificate_no": certificate_no,
}


class TrainingStatusInterface(CountCachingInterface):
    """Enrollments with the list's computed columns (read from the rows loaded, no query)."""

    def _get_attr_value(self, item, col):
        if col in COMPUTED:
            return COMPUTED[col](item)
        return super()._get_attr_value(item, col)


# --- the filter row: round, payment, 培训完毕 (a column) and 所在市州 (the expert's)

class _IdFilter(BaseFilter):
    name = lazy_gettext("等于")
    arg_name = "eq"

    def apply(self, query, value):
        wanted = db_int(getattr(value, "id", value))
        if wanted is None:
            return query
        return query.filter(self.clause(wanted))


class FilterRound(_IdFilter):
    def clause(self, round_id: int):
        return Enrollment.course_id.in_(select(Course.id).where(Course.round_id == round_id))


class FilterPrefecture(_IdFilter):
    def clause(self, prefecture_id: int):
        return Enrollment.expert_id.in_(
            select(Expert.id).where(Expert.prefecture_id == prefecture_id))


class FilterPaid(BaseFilter):
    name = lazy_gettext("等于")
    arg_name = "eq"

    def apply(self, query, value):
        if value == PaymentStatus.PAID.value:
            return query.filter(Enrollment.paid_at.is_not(None))
        if value == PaymentStatus.UNPAID.value:
            return query.filter(Enrollment.paid_at.is_(None))
        return query


CUSTOM_FILTERS = {"round": FilterRound, "payment_state": FilterPaid,
                  "prefecture": FilterPrefecture}


def _rounds():
    return db.session.query(TrainingRound).order_by(TrainingRound.id.desc())


def _prefectures():
    return db.session.query(Prefecture).order_by(Prefecture.code)


def _round_choices() -> list[tuple[str, str]]:
    return [(str(r.id), r.name) for r in _rounds()]


def _prefecture_choices() -> list[tuple[str, str]]:
    return [(str(p.id), p.name) for p in _prefectures()]


class TrainingStatusView(BeijingTimesMixin, StaffModelView):
    """培训情况."""

    route_base = "/training/status"
    datamodel = TrainingStatusInterface(Enrollment, eager=(
        selectinload(Enrollment.course).selectinload(Course.round),
        selectinload(Enrollment.expert).selectinload(Expert.prefecture),
        selectinload(Enrollment.expert).selectinload(Expert.certificates),
    ))
    class_permission_name = "TrainingStatus"
    base_permissions = ["can_list"]
    list_title = "培训情况"
    base_order = ("id", "desc")
    label_columns = {
        "course.round": "培训批次", "round": "培训批次", "course": "课程名称",
        "expert.expert_no": "专家编号", "expert.name": "姓名",
        "expert.id_number_masked": "身份证号", "expert.prefecture": "所在市州",
        "prefecture": "所在市州", "payment_state": "缴费状态", "paid_at": "缴费时间",
        "study_progress": "学习进度", "review_status": "批阅状态", "is_makeup": "是否补学",
        "completed": "培训完毕", "certificate_no": "证书编号",
    }
    list_columns = ["course.round", "course", "expert.expert_no", "expert.name",
                    "expert.id_number_masked", "expert.prefecture", "payment_state",
                    "study_progress", "review_status", "is_makeup", "completed",
                    "certificate_no"]
    export_columns = [*list_columns[:7], "paid_at", *list_columns[7:]]
    # read-only (can_list only): FAB still builds its other pages' columns from these
    show_columns = add_columns = edit_columns = ["paid_at", "review_status", "completed"]
    order_columns = ["review_status", "completed", "paid_at"]
    search_columns = ["round", "payment_state", "completed", "prefecture", "review_status"]
    # the always-visible filter row (the list template's): round, payment, 培训完毕, 市州
    filter_row = (("round", _round_choices), ("payment_state", PaymentStatus), "completed",
                  ("prefecture", _prefecture_choices))
    custom_filters = CUSTOM_FILTERS
    beijing_time_columns = ("paid_at",)
    formatters_columns = {"is_makeup": yes_no, "completed": yes_no}
    search_form_extra_fields = {
        "round": QuerySelectField("培训批次", query_func=_rounds, get_pk_func=lambda r: r.id,
                                  allow_blank=True, widget=Select2Widget()),
        "prefecture": QuerySelectField("所在市州", query_func=_prefectures,
                                       get_pk_func=lambda p: p.id, allow_blank=True,
                                       widget=Select2Widget()),
        "payment_state": SelectField("缴费状态",
                                     choices=[(s.value, lazy_gettext(s.value)) for s in PaymentStatus],
                                     widget=Select2Widget()),
        "review_status": SelectField("批阅状态",
                                     choices=[(s.value, lazy_gettext(s.value)) for s in ReviewStatus],
                                     widget=Select2Widget()),
    }


def register(appbuilder) -> None:
    add_menu_view(appbuilder, TrainingStatusView, "培训情况", category="继续教育管理",
                  icon="fa-line-chart")
