"""【专家入库申请】: the expert's four-step wizard. Thin: every rule is in
app/services/application.py; this module only moves form data in and out."""
from __future__ import annotations

import io
from collections.abc import Collection

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.fab_fixes import db_int
from app.models import Expert, StoredFile
from app.services import application as app_service
from app.services.application import BASIC, SECTIONS, STEPS, StepErrors
from app.services.application_pdf import render_application_pdf
from app.services.expert_status import TransitionError
from app.services.uploads import UploadRejected
from app.views.base import ExpertScreen, add_menu_view, save_upload


def reference_options() -> dict[str, list[tuple[str, str]]]:
    """Choices of every select in the wizard, by reference table."""
    options = {}
    for f in list(BASIC) + [f for s in SECTIONS for f in s.fields]:
        if f.source is not None and f.source.__name__ not in options:
            rows = db.session.execute(select(f.source)).scalars().all()
            options[f.source.__name__] = [(str(r.id), str(r)) for r in rows]
    return options


def _upload_into(data_slot: dict, key: str, input_name: str, kind: str,
                 errors: dict[str, str]) -> None:
    upload = request.files.get(f"{input_name}__upload")
    if upload is None or not upload.filename:
        return
    try:
        stored = save_upload(upload, kind, current_user.id)
    except UploadRejected as exc:
        errors[input_name] = exc.message
        return
    data_slot[key] = str(stored.id)


def _kept_file_id(posted: str | None, before: str) -> str:
    """The upload id kept in the draft: the posted one when it can be an id (or empty:
    removed), else what was kept before. The page links the kept id, so a draft never keeps
    letters (b_photo_file=abc once made every later GET of step 1 a 500); whose file it
    is, is checked with the step (请重新上传...)."""
    if posted is None:
        return before
    posted = posted.strip()
    if not posted:
        return ""
    file_id = db_int(posted)
    return str(file_id) if file_id is not None and file_id > 0 else before


def read_step1(data: dict, errors: dict[str, str], skip: Collection[str] = ()) -> None:
    """Everything posted on step 1 (or 【修改】) into ``data``, as typed; uploads stored at
    once. Locked fields and sections (``skip``) are not read, whatever was posted."""
    form = request.form
    skip = set(skip) | set(app_service.RENEWAL_LOCKED if app_service.is_renewal(data) else ())
    basic = data["basic"]
    for f in BASIC:
        if f.name in app_service.FIXED or f.name in skip:
            continue
        name = f"b_{f.name}"
        if f.kind == "multi":
            basic[f.name] = form.getlist(name)
        elif f.kind == "file":
            basic[f.name] = _kept_file_id(form.get(name), basic.get(f.name, ""))
            _upload_into(basic, f.name, name, f.upload_kind, errors)
        else:
            basic[f.name] = form.get(name, "")
    for section in SECTIONS:
        if section.name in skip:
            continue
        try:
            count = min(int(form.get(f"{section.name}-count", 0)), 50)
        except ValueError:
            count = 0
        rows = []
        for i in range(count):
            row = {}
            for f in section.fields:
                name = f"{section.name}-{i}-{f.name}"
                row[f.name] = form.get(name, "")
                if f.kind == "file":
                    row[f.name] = _kept_file_id(row[f.name], "")
                    _upload_into(row, f.name, name, f.upload_kind, errors)
            rows.append(row)
        data["sections"][section.name] = rows


def change_rows(data: dict, action: str) -> str | None:
    """添加一行 / 删除 without JavaScript: 'add:educations', 'remove:educations:2'."""
    parts = action.split(":")
    section = app_service.SECTION_BY_NAME.get(parts[1]) if len(parts) > 1 else None
    if section is None:
        return None
    rows = data["sections"][section.name]
    if parts[0] == "add" and len(rows) < 50:
        rows.append({f.name: "" for f in section.fields})
    elif parts[0] == "remove" and len(parts) == 3 and parts[2].isdigit():
        index = int(parts[2])
        if index < len(rows):
            rows.pop(index)
    return section.name


class ApplicationView(ExpertScreen):
    route_base = "/application"
    class_permission_name = "Application"
    default_view = "start"

    def _render(self, expert: Expert, step: int, data: dict, errors: dict[str, str] | None = None):
        return self.render_template(
            "application/wizard.html", expert=expert, step=step, steps=STEPS, data=data,
            errors=errors or {}, basic_fields=BASIC, sections=SECTIONS,
            options=reference_options() if step == 1 else {},
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
        errors: dict[str, str] = {}
        if number == 1:
            read_step1(data, errors)
        elif number == 2:
            data["admission_type"] = request.form.get("admission_type", "")
        elif number == 3:
            slot: dict = {}
            _upload_into(slot, "signed_form", "signed_form", "signed_form", errors)
            if slot:
                app_service.attach_signed_form(
                    expert, db.session.get(StoredFile, int(slot["signed_form"])))
        app_service.save_draft(db.session, expert, data)  # 暂存: nothing typed is lost
        db.session.commit()

        if action.startswith(("add:", "remove:")) and number == 1:
            anchor = change_rows(data, action)
            app_service.save_draft(db.session, expert, data)
            db.session.commit()
            return self._render(expert, number, data, errors) if errors else redirect(
                url_for(".step", number=1, _anchor=f"section-{anchor}"))
        if action == "prev":
            return redirect(url_for(".step", number=max(1, number - 1)))
        if action == "save":
            if not errors:
                flash("已暂存", "success")
            return self._render(expert, number, data, errors)
        if action == "submit" and number == 4:
            try:
                app_service.submit(db.session, expert, current_user.id)
            except TransitionError as exc:
                db.session.rollback()
                flash(exc.message, "danger")
                return redirect(url_for(".step", number=4))
            db.session.commit()
            flash("已提交审核，请等待审核结果", "success")
            return redirect(url_for(".step", number=4))
        # 下一步: check this step; when valid, write it to the record
        try:
            if number == 1:
                if errors:
                    raise StepErrors(errors)
                app_service.apply_step1(db.session, expert, app_service.check_step1(
                    db.session, expert, data))
            elif number == 2:
                app_service.apply_step2(expert, app_service.check_step2(data))
            elif number == 3:
                if errors:
                    raise StepErrors(errors)
                app_service.check_step3(expert)
        except StepErrors as exc:
            db.session.rollback()
            return self._render(expert, number, app_service.load(db.session, expert), exc.errors)
        db.session.commit()
        return redirect(url_for(".step", number=min(4, number + 1)))

    @expose("/form.pdf")
    @has_access
    def form_pdf(self):
        """下载申请表: the expert's own application as a printable A4 PDF."""
        expert = self._expert()
        pdf = render_application_pdf(expert, review_url(expert))
        return send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=True,
                         download_name=f"评标专家入库申请表-{expert.name}.pdf")


def review_url(expert: Expert) -> str:
    """What the form's QR code opens: this application on the reviewers' screen."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    path = url_for("ApplicationReviewView.application", expert_id=expert.id)
    return base.rstrip("/") + path if base else url_for(
        "ApplicationReviewView.application", expert_id=expert.id, _external=True)


def register(appbuilder) -> None:
    add_menu_view(appbuilder, ApplicationView, "专家入库申请", icon="fa-edit")
