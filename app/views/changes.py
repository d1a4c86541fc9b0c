"""个人信息变更 (the manual's step 四): 【下载】 the 个人信息表, 【异动申请】 and 【修改】 for the
expert; the reviewers' screens for 异动申请 and for changes of 专业. Thin: the rules are in
app/services/transfer.py, profile.py and change_requests.py."""
from __future__ import annotations

import io
from typing import Any

from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_login import current_user
from sqlalchemy import select

from app.errors import rollback
from app.extensions import db
from app.models import (
    ChangeStatus,
    Prefecture,
    ProfileChange,
    TransferRequest,
    local_time,
    utcnow,
)
from app.services import profile, transfer
from app.services.access import actor_kind
from app.services.accounts import FieldErrors
from app.services.application import StepErrors
from app.services.application_pdf import render_personal_info_pdf
from app.services.change_requests import allowed_request_actions
from app.services.errors import DomainError
from app.services.uploads import UploadRejected
from app.views._forms import (
    change_rows,
    check_profile,
    input_names,
    invalid_keys,
    posted_profile_form,
    profile_form,
    read_posted,
    reference_options,
    store_single_upload,
)
from app.views.base import ExpertScreen, StaffModelView, add_menu_view, file_link, stored_file
from app.views.widgets import BeijingTimesMixin


class MyChangesView(ExpertScreen):
    """The expert's own 下载 / 异动申请 / 修改: every route works on ``_expert()`` only."""

    route_base = "/my"
    class_permission_name = "MyChanges"
    default_view = "modify"

    @expose("/info.pdf")
    @has_access
    def info_pdf(self):
        """【下载】个人信息表."""
        expert = self._expert()
        pdf = render_personal_info_pdf(expert, local_time(utcnow()))
        return send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True,
                         download_name=f"评标专家个人信息表-{expert.name}.pdf")

    # ------------------------------------------------------------ 异动申请

    def _transfer_page(self, expert, form=None, errors=None):
        return self.render_template(
            "changes/transfer.html", expert=expert, form=form or {}, errors=errors or {},
            refusal=transfer.refusal(db.session, expert),
            pending=transfer.open_request(db.session, expert),
            history=transfer.history(db.session, expert),
            prefectures=db.session.execute(select(Prefecture).order_by(Prefecture.id)).scalars())

    @expose("/transfer", methods=["GET", "POST"])
    @has_access
    def transfer(self):
        """【异动申请】: new 所在市州, reason, optional attachment → 待审核."""
        expert = self._expert()
        if request.method == "GET":
            return self._transfer_page(expert)
        form = {"to_prefecture": request.form.get("to_prefecture", ""),
                "reason": request.form.get("reason", ""),
                "attachment_id": request.form.get("attachment_id", "")}
        errors: dict[str, str] = {}
        attachment = None
        try:
            # kept at once: a refused form comes back as a page, and the request keeps it
            attachment = store_single_upload("attachment", "transfer", current_user.id,
                                             request.files)
            if attachment is None:
                attachment = stored_file(form["attachment_id"])
            # the page links the kept id: letters or an id no column holds are dropped
            # (a file of someone else's is refused by transfer.submit, with its message)
            form["attachment_id"] = str(attachment.id) if attachment else ""
        except UploadRejected as exc:
            errors["attachment"] = exc.message
        try:
            if errors:
                raise FieldErrors(errors)
            transfer.submit(db.session, expert, to_prefecture_id=form["to_prefecture"],
                            reason=form["reason"], attachment=attachment, actor_id=current_user.id)
        except FieldErrors as exc:
            return self._transfer_page(expert, form, {**errors, **exc.errors})
        flash("异动申请已提交，请等待审核", "success")
        return redirect(url_for(".transfer"))

    def _withdraw(self, pending, service, done: str, back: str):
        """撤回 the expert's own waiting request through its service."""
        if pending is None:
            abort(404)
        return decided(lambda: service(db.session, pending, "withdraw", actor_kind="expert",
                                       actor_id=current_user.id), done, url_for(back))

    @expose("/transfer/withdraw", methods=["POST"])
    @has_access
    def withdraw_transfer(self):
        return self._withdraw(transfer.open_request(db.session, self._expert()), transfer.review,
                              "异动申请已撤回", ".transfer")

    # ------------------------------------------------------------ 修改

    def _modify_page(self, expert, data, errors=None, options=None):
        return self.render_template(
            "changes/modify.html", expert=expert, form=profile_form(data, options),
            errors=errors or {},
            locked_fields=profile.locked_fields(db.session, expert),
            frozen_sections=profile.frozen_sections(db.session, expert),
            section_note={"professional": ""}, identity_note=profile.IDENTITY_NOTE,
            history=profile.history(db.session, expert),
            pending=profile.pending_specialty_change(db.session, expert),
        )

    @expose("/modify", methods=["GET", "POST"])
    @has_access
    def modify(self):
        """【修改】: everything but 姓名, 性别, 出生年月, 身份证号 and 所在市州."""
        expert = self._expert()
        if not profile.can_modify(expert):
            flash("入库审核通过后方可修改信息；入库前请通过【专家入库申请】填写", "warning")
            return redirect(url_for("MyProfileView.profile"))
        data = profile.form_data(expert)
        if request.method == "GET":
            return self._modify_page(expert, data)
        options = reference_options()
        skip = profile.skipped(db.session, expert)
        errors: dict[str, str] = {}  # uploads refused; the others are kept at once
        read_posted(posted_profile_form(options), data, errors, current_user.id, skip)
        action = request.form.get("action", "save")
        if action.startswith(("add:", "remove:")):
            change_rows(data, action)
            return self._modify_page(expert, data, errors, options)
        if errors:
            return self._modify_page(expert, data, errors, options)
        values, form_errors = check_profile(data, skip, options)
        try:
            try:
                clean = profile.check(db.session, expert, values, invalid=invalid_keys(form_errors))
            except StepErrors as exc:
                raise StepErrors({**input_names(exc.errors), **form_errors}) from None
            changes = profile.apply(db.session, expert, clean, current_user.id)
        except StepErrors as exc:
            # the page again, with what was typed; the request keeps the uploads
            return self._modify_page(expert, data, exc.errors, options)
        if any(c.status == ChangeStatus.PENDING.value for c in changes):
            flash("已保存；专业类别的变更已提交审核，审核通过后生效", "success")
        elif changes:
            flash("修改已保存", "success")
        else:
            flash("没有需要保存的修改", "info")
        return redirect(url_for(".modify"))

    @expose("/modify/withdraw", methods=["POST"])
    @has_access
    def withdraw_specialty(self):
        return self._withdraw(profile.pending_specialty_change(db.session, self._expert()),
                              profile.review_specialty, "专业类别变更已撤回", ".modify")


# ---------------------------------------------------------------- staff


class DecisionMixin:
    """A staff detail page that carries 通过 / 驳回 for a waiting request, and the POST that
    decides it through the request's own service."""

    decision_model: type
    decision_service: Any

    def decidable(self, item) -> bool:
        return True

    def _get_show_widget(self, pk, item, **kwargs):
        widgets = super()._get_show_widget(pk, item, **kwargs)
        actions = (allowed_request_actions(item.status, actor_kind(current_user))
                   if self.decidable(item) else [])
        # per request (g), not on the view object that all threads share
        g.decision = {"url": url_for(".decide", pk=pk), "actions": actions}
        return widgets

    @expose("/decide/<int:pk>", methods=["POST"])
    @has_access
    def decide(self, pk: int):
        item = db.get_or_404(self.decision_model, pk)
        return decided(lambda: type(self).decision_service(
            db.session, item, request.form.get("action", ""),
            actor_kind=actor_kind(current_user), actor_id=current_user.id,
            opinion=request.form.get("opinion")), "审核完成", url_for(".show", pk=item.id))


def decided(decide, done: str, page: str):
    """A decision posted from a page's buttons, and back to that page: done, or refused with
    the reason. Caught here rather than by the app's handler, which goes back by the
    Referer: these routes take POST only, and a browser that sends no Referer would land
    on a 405."""
    try:
        decide()
    except DomainError as exc:
        rollback()
        flash(exc.message, "danger")
    else:
        flash(done, "success")
    return redirect(page)


class TransferRequestAdminView(BeijingTimesMixin, DecisionMixin, StaffModelView):
    """异动审核: 待审核 requests first; the detail page carries 通过 / 驳回."""

    datamodel = SQLAInterface(TransferRequest)
    class_permission_name = "TransferRequest"
    base_permissions = ["can_list", "can_show", "can_decide"]
    list_title = show_title = "异动申请"
    label_columns = {"expert": "专家", "expert.name": "姓名", "expert.expert_no": "专家编号",
                     "from_prefecture": "原所在市州", "to_prefecture": "异动后所在市州",
                     "reason": "异动原因", "attachment_file": "附件", "status": "状态",
                     "submitted_at": "提交时间", "reviewer": "审核人", "reviewed_at": "审核时间",
                     "opinion": "审核意见"}
    list_columns = ["expert.name", "expert.expert_no", "from_prefecture", "to_prefecture", "status",
                    "submitted_at", "reviewed_at"]
    show_columns = ["expert.name", "expert.expert_no", "from_prefecture", "to_prefecture", "reason",
                    "attachment_file", "status", "submitted_at", "reviewer", "reviewed_at",
                    "opinion"]
    search_columns = ["status", "to_prefecture", "from_prefecture", "submitted_at"]
    filter_row = (("status", "change_status"), "from_prefecture", "to_prefecture", "submitted_at")
    order_columns = ["submitted_at", "reviewed_at"]
    base_order = ("submitted_at", "desc")
    formatters_columns = {"attachment_file": file_link}
    beijing_time_columns = ("submitted_at", "reviewed_at")
    show_template = "changes/request_show.html"

    decision_model = TransferRequest
    decision_service = transfer.review


class ProfileChangeAdminView(BeijingTimesMixin, DecisionMixin, StaffModelView):
    """修改记录: every recorded change; a change of 专业 is approved or rejected here."""

    datamodel = SQLAInterface(ProfileChange)
    class_permission_name = "ProfileChange"
    base_permissions = ["can_list", "can_show", "can_decide"]
    list_title = show_title = "修改记录"
    label_columns = {"expert.name": "姓名", "expert.expert_no": "专家编号", "section": "栏目",
                     "field": "修改项", "before": "修改前", "after": "修改后", "status": "状态",
                     "changed_at": "修改时间", "reviewer": "审核人", "reviewed_at": "审核时间",
                     "opinion": "审核意见"}
    list_columns = ["expert.name", "expert.expert_no", "section", "field", "before", "after", "status",
                    "changed_at"]
    show_columns = ["expert.name", "expert.expert_no", "section", "field", "before", "after", "status",
                    "changed_at", "reviewer", "reviewed_at", "opinion"]
    search_columns = ["status", "field", "section", "changed_at"]
    filter_row = (("status", "change_status"), "section", "field", "changed_at")
    order_columns = ["changed_at"]
    base_order = ("changed_at", "desc")
    beijing_time_columns = ("changed_at", "reviewed_at")
    show_template = "changes/request_show.html"

    decision_model = ProfileChange
    decision_service = profile.review_specialty

    def decidable(self, item) -> bool:
        return item.field == profile.SPECIALTY_FIELD  # only a change of 专业 waits for review


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(MyChangesView)
    add_menu_view(appbuilder, TransferRequestAdminView, "异动审核", category="专家库",
                  icon="fa-exchange")
    add_menu_view(appbuilder, ProfileChangeAdminView, "修改记录", category="专家库",
                  icon="fa-pencil")
