"""【专家入库申请】: the expert's four-step wizard. Thin: the rules are in
app/services/application.py, the profile's form in app/views/_forms.py; this module moves the
request into the draft and the draft into the page."""
from __future__ import annotations

import io

from flask import abort, flash, redirect, request, send_file, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_login import current_user

from app.errors import rollback
from app.extensions import db
from app.models import AdmissionType, Expert
from app.services import application as app_service
from app.services.application import STEPS, StepErrors
from app.services.application_pdf import render_application_pdf
from app.services.errors import DomainError
from app.services.uploads import UploadRejected
from app.views._experts import review_url
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
from app.views.base import ExpertScreen, add_menu_view


class ApplicationView(ExpertScreen):
    route_base = "/application"
    class_permission_name = "Application"
    default_view = "start"

    def _render(self, expert: Expert, step: int, data: dict, errors: dict[str, str] | None = None,
                options: dict | None = None):
        return self.render_template(
            "application/wizard.html", expert=expert, step=step, steps=STEPS, data=data,
            errors=errors or {}, form=profile_form(data, options) if step == 1 else None,
            admission_types=[t.value for t in AdmissionType],
            renewal=app_service.is_renewal(data), locked=app_service.RENEWAL_LOCKED,
            renewal_note=app_service.RENEWAL_NOTE, lock_note=app_service.RENEWAL_LOCK_NOTE,
            editable=app_service.can_edit(expert),
            missing=app_service.missing_for_submission(db.session, expert) if step == 4 else [],
        )

    @expose("/")
    @has_access
    def start(self):
        expert = self._expert()
        if not app_service.can_edit(expert):
            return redirect(url_for(".step", number=4))
        return redirect(url_for(".step", number=1))

    @expose("/step/<int:number>", methods=["GET", "POST"])
    @has_access
    def step(self, number: int):
        if number not in (1, 2, 3, 4):
            abort(404)
        expert = self._expert()
        data = app_service.load(db.session, expert)
        if request.method == "GET":
            return self._render(expert, number, data)
        if not app_service.can_edit(expert):
            flash("申请已提交，审核期间不能修改", "warning")
            return redirect(url_for(".step", number=4))
        action = request.form.get("action", "save")
        errors: dict[str, str] = {}  # uploads refused (the others are kept at once)
        options = reference_options() if number == 1 else {}
        if number == 1:
            read_posted(posted_profile_form(options), data, errors, current_user.id,
                        skip=set(app_service.locked_for(data)))
        elif number == 2:
            data["admission_type"] = request.form.get("admission_type", "")
        elif number == 3:
            try:
                stored = store_single_upload("signed_form", "signed_form", current_user.id,
                                             request.files)
            except UploadRejected as exc:
                errors["signed_form"] = exc.message
            else:
                if stored is not None:
                    app_service.attach_signed_form(expert, stored)
        app_service.save_draft(db.session, expert, data)  # 暂存: nothing typed is lost

        if action.startswith(("add:", "remove:")) and number == 1:
            anchor = change_rows(data, action)
            app_service.save_draft(db.session, expert, data)
            return self._render(expert, number, data, errors, options) if errors else redirect(
                url_for(".step", number=1, _anchor=f"section-{anchor}"))
        if action == "prev":
            return redirect(url_for(".step", number=max(1, number - 1)))
        if action == "save":
            if not errors:
                flash("已暂存", "success")
            return self._render(expert, number, data, errors, options or None)
        if action == "submit" and number == 4:
            try:
                app_service.submit(db.session, expert, current_user.id)
            except DomainError as exc:  # back to 提交 with what is missing, whatever the Referer
                rollback()
                flash(exc.message, "warning")
            else:
                flash("已提交审核，请等待审核结果", "success")
            return redirect(url_for(".step", number=4))
        # 下一步: check this step; when valid, write it to the record. Refused, the page comes
        # back with the messages, and the request still keeps the draft and the uploads.
        if errors:
            return self._render(expert, number, data, errors, options or None)
        try:
            if number == 1:
                values, form_errors = check_profile(data, set(app_service.locked_for(data)),
                                                    options)
                try:
                    clean = app_service.check_step1(db.session, expert, values,
                                                    invalid=invalid_keys(form_errors))
                except StepErrors as exc:
                    raise StepErrors({**input_names(exc.errors), **form_errors}) from None
                app_service.apply_step1(db.session, expert, clean)
            elif number == 2:
                app_service.apply_step2(expert, app_service.check_step2(data["admission_type"]))
            elif number == 3:
                app_service.check_step3(expert)
        except StepErrors as exc:
            return self._render(expert, number, data, exc.errors, options or None)
        return redirect(url_for(".step", number=min(4, number + 1)))

    @expose("/form.pdf")
    @has_access
    def form_pdf(self):
        """下载申请表: the expert's own application as a printable A4 PDF."""
        expert = self._expert()
        pdf = render_application_pdf(expert, review_url(expert))
        return send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True,
                         download_name=f"评标专家入库申请表-{expert.name}.pdf")


def register(appbuilder) -> None:
    add_menu_view(appbuilder, ApplicationView, "专家入库申请", icon="fa-edit")
