"""继续教育管理 → 导入题库: a course bank of hundreds of questions from one xlsx file
(checked row by row; all or nothing, see app/services/question_import.py)."""
from __future__ import annotations

import io

from flask import request, send_file
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import SelectField

from app.extensions import db
from app.models import TrainingRound
from app.services import question_import
from app.services.audit_hooks import current_actor
from app.services.export import EXPORT_MIME
from app.views.base import add_menu_view


class QuestionImportForm(FlaskForm):
    round_id = SelectField("培训批次", coerce=int, validate_choice=False)
    file = FileField("题库文件（xlsx）")


def _rounds() -> list[TrainingRound]:
    return list(db.session.execute(
        select(TrainingRound).order_by(TrainingRound.id.desc())).scalars())


class QuestionImportView(BaseView):
    route_base = "/questions/import"
    class_permission_name = "QuestionImport"
    method_permission_name = {"template": "upload"}
    audience = "staff"
    default_view = "upload"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def upload(self):
        rounds = _rounds()
        form = QuestionImportForm()
        form.round_id.choices = [(r.id, r.name) for r in rounds]
        report = None
        if form.validate_on_submit():
            chosen = db.session.get(TrainingRound, form.round_id.data or 0)
            upload = request.files.get("file")
            if chosen is None:
                form.round_id.errors = ["请选择培训批次"]
            elif not upload or not upload.filename:
                form.file.errors = ["请选择要导入的文件"]
            elif not upload.filename.lower().endswith(".xlsx"):
                form.file.errors = ["请上传 Excel 文件（.xlsx），可先下载导入模板"]
            else:
                report = question_import.import_questions(
                    db.session, upload.read(), chosen, actor=current_actor(),
                    file_name=upload.filename)
        return self.render_template("question_import/upload.html", form=form, report=report,
                                    rounds=rounds, columns=question_import.COLUMNS,
                                    required=question_import.REQUIRED)

    @expose("/template")
    @has_access
    def template(self):
        chosen = db.session.get(TrainingRound, request.args.get("round_id", type=int) or 0)
        name = f"题库导入模板_{chosen.name}.xlsx" if chosen else "题库导入模板.xlsx"
        return send_file(io.BytesIO(question_import.template_workbook(db.session, chosen)),
                         mimetype=EXPORT_MIME, as_attachment=True, download_name=name)


def register(appbuilder) -> None:
    add_menu_view(appbuilder, QuestionImportView, "导入题库", category="继续教育管理",
                  icon="fa-upload")
