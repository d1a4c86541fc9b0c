"""审核: the queue of submitted applications and the application page with 通过 / 退回."""
from __future__ import annotations

import io

from flask import abort, flash, redirect, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.security.decorators import has_access
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm import selectinload

from app.errors import rollback
from app.extensions import db
from app.fab_fixes import db_int
from app.models import Expert, ExpertStatus
from app.services import application as app_service
from app.services import settings
from app.services.access import actor_kind
from app.services.application import SECTIONS, RuleSettings
from app.services.application_pdf import render_application_pdf
from app.services.errors import DomainError
from app.views._experts import EXPERT_LABELS, EXPERT_LIST_LOADS, review_url
from app.views._forms import ReviewForm
from app.views.base import StaffModelView, add_menu_view, record_personal_data_view
from app.views.fastlist import CountCachingInterface
from app.views.widgets import BeijingTimesMixin


def review_link(expert_id: int) -> Markup:
    href = url_for("ApplicationReviewView.application", expert_id=expert_id)
    return Markup(f'<a class="btn btn-xs btn-primary review-link" href="{href}">审核</a>')


class ReviewQueueView(BeijingTimesMixin, StaffModelView):
    """待审核申请: filters 市州, 入库类型, 入库批次, submitted between."""

    datamodel = CountCachingInterface(Expert, eager=EXPERT_LIST_LOADS)
    beijing_time_columns = ("submitted_at", "created_on", "changed_on")
    class_permission_name = "ReviewQueue"
    base_permissions = ["can_list"]
    base_filters = [["status", FilterEqual, ExpertStatus.PENDING.value]]
    base_order = ("submitted_at", "asc")
    list_title = "待审核申请"
    label_columns = {**EXPERT_LABELS, "submitted_at": "提交时间", "id": "操作"}
    list_columns = ["application_no", "name", "prefecture", "main_specialty", "admission_type",
                    "admission_batch", "submitted_at", "id"]
    order_columns = ["application_no", "submitted_at", "admission_batch"]
    search_columns = ["prefecture", "admission_type", "admission_batch", "submitted_at", "name",
                      "application_no"]
    exact_search_columns = ("application_no",)
    filter_row = ("name", "application_no", "prefecture", ("admission_type", "admission_type"),
                  ("admission_batch", "eq"), "submitted_at")
    prefix_search_columns = ("name",)
    formatters_columns = {"id": review_link}


def _settings() -> RuleSettings:
    cfg = settings.config()
    return RuleSettings(max_age=cfg["ADMISSION_MAX_AGE"], min_work_years=cfg["ADMISSION_MIN_WORK_YEARS"])


class ApplicationReviewView(BaseView):
    route_base = "/review"
    class_permission_name = "ApplicationReview"
    audience = "staff"
    default_view = "application"

    def _load(self, expert_id: int) -> Expert:
        expert = (
            db.session.query(Expert)
            .options(*[selectinload(getattr(Expert, s.name)) for s in SECTIONS],
                     # each row's file with its row, not one query per file
                     *[selectinload(getattr(Expert, s.name)).joinedload(getattr(s.model, name))
                       for s in SECTIONS for name in sorted(app_service.file_fields(s.model))],
                     selectinload(Expert.review_records))
            .filter(Expert.id == expert_id).one_or_none()
        )
        if expert is None:
            abort(404)
        return expert

    def _render(self, expert: Expert, message: str | None = None, typed: dict | None = None):
        record_personal_data_view("入库申请", expert.id)
        return self.render_template(
            "review/application.html", expert=expert, flags=app_service.rule_flags(expert, _settings()),
            sections=SECTIONS, message=message, typed=typed or {},
            pending=expert.status == ExpertStatus.PENDING.value)

    @expose("/<int:expert_id>")
    @has_access
    def application(self, expert_id: int):
        return self._render(self._load(expert_id))

    @expose("/<int:expert_id>/decide", methods=["POST"])
    @has_access
    def decide(self, expert_id: int):
        expert = self._load(expert_id)
        form = ReviewForm()
        action = form.action.data
        if action not in ("approve", "return"):
            abort(400)
        seen = db_int(form.version.data)
        try:
            app_service.review(
                db.session, expert, action, reviewer_id=current_user.id,
                seen_version=-1 if seen is None else seen, opinion=form.opinion.data or "",
                section_opinions=form.section_opinions(), actor_kind=actor_kind(current_user))
        except DomainError as exc:
            # the page again with the reason and the opinions typed (StaleVersion: 409)
            rollback()
            return self._render(self._load(expert_id), exc.message, form.typed()), exc.status
        flash(f"已{'通过' if action == 'approve' else '退回'}：{expert.name}"
              + (f"，专家编号 {expert.expert_no}" if action == "approve" else ""), "success")
        return redirect(url_for("ReviewQueueView.list"))

    @expose("/<int:expert_id>/form.pdf")
    @has_access
    def form_pdf(self, expert_id: int):
        """The generated application form, as the expert downloads it."""
        expert = self._load(expert_id)
        pdf = render_application_pdf(expert, review_url(expert))
        return send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True,
                         download_name=f"评标专家入库申请表-{expert.name}.pdf")


def register(appbuilder) -> None:
    add_menu_view(appbuilder, ReviewQueueView, "待审核申请", category="审核", icon="fa-check-square",
                  category_icon="fa-gavel")
    appbuilder.add_view_no_menu(ApplicationReviewView)
