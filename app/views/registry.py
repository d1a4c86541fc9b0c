"""The expert registry: staff screens for every table, the expert's own profile,
导出 Excel and the import of existing experts."""
from __future__ import annotations

import io

from flask import current_app, flash, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_babel import lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import SelectField

from app.extensions import db
from app.models import (
    AdmissionType,
    Attachment,
    AvoidanceUnit,
    BankAccount,
    Degree,
    Education,
    EducationLevel,
    EvaluationExperience,
    Expert,
    Expertise,
    ImportBatch,
    PoliticalStatus,
    Prefecture,
    Qualification,
    ReviewRecord,
    ReviewStatus,
    Specialty,
    StoredFile,
    Title,
    TitleLevel,
    TrainingRecord,
    WorkExperience,
)
from app.services import experts as expert_service
from app.services import profile
from app.services.access import expert_owned_by
from app.services.audit_hooks import current_actor
from app.services.errors import NotFound
from app.services.expert_status import is_admitted
from app.services.export import EXPORT_MIME
from app.services.importer import (
    IMPORT_COLUMNS,
    progress_state,
    queue_import,
    report_of,
    report_workbook,
    template_workbook,
)
from app.services.importer import progress_percent as import_progress
from app.services.validators import (
    ValidationError,
    validate_credit_code,
    validate_date_range,
    validate_email,
    validate_id_number,
    validate_name,
    validate_phone,
)
from app.views._experts import EXPERT_LABELS, EXPERT_LIST_LOADS
from app.views.base import (
    ExpertScreen,
    FieldCheck,
    StaffModelView,
    UploadFieldMixin,
    add_menu_view,
    file_link,
    with_status_text,
    yes_no,
)
from app.views.fastlist import CountCachingInterface
from app.views.widgets import BeijingTimesMixin

DATE_LABELS = {"start_date": "开始时间", "end_date": "结束时间"}


def _date_range_ok(form) -> bool:
    try:
        validate_date_range(form.start_date.data, form.end_date.data)
    except ValidationError as exc:
        form.end_date.errors = list(form.end_date.errors) + [exc.message]
        return False
    return True


class ExpertChildView(StaffModelView):
    """A tab of the expert's profile, shown on the expert's page."""

    base_order = ("id", "asc")


class EducationAdminView(ExpertChildView):
    datamodel = SQLAInterface(Education)
    list_title = show_title = add_title = edit_title = "教育经历"
    label_columns = {"expert": "专家", "education_level": "学历", "degree": "学位",
                     "school": "毕业院校", "major": "专业名称", "proof_file": "学历证明文件",
                     **DATE_LABELS}
    list_columns = ["education_level", "degree", "school", "major", "start_date", "end_date"]
    show_columns = ["expert", *list_columns, "proof_file"]
    add_columns = edit_columns = ["expert", *list_columns]
    search_columns = ["expert", "education_level", "degree", "school", "major"]
    formatters_columns = {"proof_file": file_link}

    def check_form(self, form) -> bool:
        return _date_range_ok(form)


class QualificationAdminView(ExpertChildView):
    datamodel = SQLAInterface(Qualification)
    list_title = show_title = add_title = edit_title = "职称及资质"
    label_columns = {"expert": "专家", "name": "职称/资质名称", "title_level": "级别",
                     "is_registered": "注册执业资格", "certificate_no": "证书编号",
                     "issue_date": "发证日期", "file": "证书文件"}
    list_columns = ["name", "title_level", "is_registered", "certificate_no", "issue_date"]
    show_columns = ["expert", *list_columns, "file"]
    add_columns = edit_columns = ["expert", *list_columns]
    search_columns = ["expert", "name", "title_level", "is_registered", "certificate_no"]
    formatters_columns = {"is_registered": yes_no, "file": file_link}

    def check_form(self, form) -> bool:
        try:
            validate_date_range(form.issue_date.data, None)
        except ValidationError:
            form.issue_date.errors = list(form.issue_date.errors) + ["发证日期不能晚于今天"]
            return False
        return True


class WorkExperienceAdminView(ExpertChildView):
    datamodel = SQLAInterface(WorkExperience)
    list_title = show_title = add_title = edit_title = "工作经历"
    label_columns = {"expert": "专家", "employer": "工作单位", "position": "职务",
                     "referee": "证明人", **DATE_LABELS}
    list_columns = ["start_date", "end_date", "employer", "position", "referee"]
    show_columns = ["expert", *list_columns]
    add_columns = edit_columns = ["expert", *list_columns]
    search_columns = ["expert", "employer", "position"]
    description_columns = {"end_date": "至今在职请留空"}

    def check_form(self, form) -> bool:
        return _date_range_ok(form)


class EvaluationExperienceAdminView(ExpertChildView):
    datamodel = SQLAInterface(EvaluationExperience)
    list_title = show_title = add_title = edit_title = "评标实践经验"
    label_columns = {"expert": "专家", "evaluated_on": "评标日期", "project_name": "项目名称",
                     "tenderer": "招标人", "role": "担任角色"}
    list_columns = ["evaluated_on", "project_name", "tenderer", "role"]
    show_columns = ["expert", *list_columns]
    add_columns = edit_columns = ["expert", *list_columns]
    search_columns = ["expert", "project_name", "tenderer", "role"]

    def check_form(self, form) -> bool:
        try:
            validate_date_range(form.evaluated_on.data, None)
        except ValidationError:
            form.evaluated_on.errors = list(form.evaluated_on.errors) + ["评标日期不能晚于今天"]
            return False
        return True


class ExpertiseAdminView(ExpertChildView):
    datamodel = SQLAInterface(Expertise)
    list_title = show_title = add_title = edit_title = "业务技术专长"
    label_columns = {"expert": "专家", "content": "业务技术专长"}
    list_columns = ["content"]
    show_columns = add_columns = edit_columns = ["expert", "content"]
    search_columns = ["expert", "content"]


class AvoidanceUnitAdminView(ExpertChildView):
    datamodel = SQLAInterface(AvoidanceUnit)
    list_title = show_title = add_title = edit_title = "回避单位"
    label_columns = {"expert": "专家", "name": "单位名称", "credit_code": "统一社会信用代码",
                     "reason": "回避原因", "is_employer": "本人工作单位"}
    list_columns = ["name", "credit_code", "reason", "is_employer"]
    show_columns = ["expert", *list_columns]
    add_columns = edit_columns = ["expert", "name", "credit_code", "reason"]
    search_columns = ["expert", "name", "credit_code"]
    formatters_columns = {"is_employer": yes_no}
    validators_columns = {"credit_code": [FieldCheck(validate_credit_code, required=False)]}


class BankAccountAdminView(ExpertChildView):
    datamodel = SQLAInterface(BankAccount)
    list_title = show_title = add_title = edit_title = "账户信息"
    label_columns = {"expert": "专家", "bank_name": "开户银行", "account_no": "银行账号",
                     "account_no_masked": "银行账号", "holder": "户名"}
    list_columns = ["bank_name", "account_no_masked", "holder"]
    show_columns = ["expert", "bank_name", "account_no", "holder"]
    add_columns = edit_columns = ["expert", "bank_name", "account_no", "holder"]
    search_columns = ["expert", "bank_name", "account_no"]
    exact_search_columns = ("account_no",)
    personal_data_object = "银行账户"


class AttachmentAdminView(UploadFieldMixin, ExpertChildView):
    """附件: the file goes through the upload service and belongs to the expert's account."""

    datamodel = SQLAInterface(Attachment)
    list_title = show_title = add_title = edit_title = "附件"
    label_columns = {"expert": "专家", "title": "附件名称", "file": "文件", "upload": "上传文件"}
    list_columns = ["title", "file"]
    show_columns = ["expert", "title", "file"]
    add_columns = ["expert", "title", "upload"]
    edit_columns = ["expert", "title"]
    search_columns = ["expert", "title"]
    add_form_extra_fields = {"upload": FileField("上传文件", description="PDF、JPG 或 PNG，不超过 10 MB")}
    formatters_columns = {"file": file_link}

    upload_kind = "attachment"

    def upload_owner(self, form) -> int | None:
        """The file belongs to the expert's account: they can download it."""
        return form.expert.data.user_id if form.expert.data else None


class ReviewRecordAdminView(BeijingTimesMixin, ExpertChildView):
    """审核详情: written only by the status service, so read-only here."""

    datamodel = SQLAInterface(ReviewRecord)
    beijing_time_columns = ("reviewed_at",)
    base_permissions = ["can_list", "can_show"]
    base_order = ("reviewed_at", "desc")
    list_title = show_title = "审核详情"
    label_columns = {"expert": "专家", "reviewer": "审核人", "reviewed_at": "审核时间",
                     "action": "操作", "from_status": "原状态", "to_status": "审核结果",
                     "opinion": "审核意见"}
    list_columns = ["reviewed_at", "action", "to_status", "opinion", "reviewer"]
    show_columns = ["expert", *list_columns, "from_status"]
    search_columns = ["expert", "action", "to_status", "reviewed_at"]


class TrainingRecordAdminView(BeijingTimesMixin, ExpertChildView):
    datamodel = SQLAInterface(TrainingRecord)
    beijing_time_columns = ("graded_at",)
    list_title = show_title = add_title = edit_title = "学习培训情况"
    label_columns = {"expert": "专家", "round_name": "培训批次", "course_name": "课程名称",
                     "hours": "学时", "result": "批阅状态", "completed": "培训完毕",
                     "graded_at": "批阅时间"}
    list_columns = ["round_name", "course_name", "hours", "result", "completed", "graded_at"]
    show_columns = ["expert", *list_columns]
    add_columns = edit_columns = ["expert", *list_columns]
    search_columns = ["expert", "round_name", "course_name", "result", "completed"]
    formatters_columns = {"completed": yes_no}
    add_form_extra_fields = edit_form_extra_fields = {
        "result": SelectField("批阅状态",
                              choices=[("", ""), *((s.value, lazy_gettext(s.value)) for s in ReviewStatus)],
                              widget=Select2Widget()),
    }


EXPERT_TABS = [
    EducationAdminView, QualificationAdminView, WorkExperienceAdminView,
    EvaluationExperienceAdminView, ExpertiseAdminView, AvoidanceUnitAdminView,
    BankAccountAdminView, AttachmentAdminView, ReviewRecordAdminView, TrainingRecordAdminView,
]




class ExpertAdminView(BeijingTimesMixin, StaffModelView):
    """专家列表 for 审核人员 and 管理员. Experts are not deleted: 清退 is a status."""

    datamodel = CountCachingInterface(Expert, eager=EXPERT_LIST_LOADS)
    beijing_time_columns = ("created_on", "changed_on")
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_export"]
    class_permission_name = "Expert"
    list_template = "registry/expert_list.html"
    # 导出 Excel (the generic route of StaffModelView): more than the list shows
    export_columns = ["application_no", "expert_no", "account", "name", "gender", "birth_date",
                      "id_number", "political_status", "prefecture", "phone", "email",
                      "employer", "main_specialty", "title", "admission_type",
                      "admission_batch", "accepts_remote", "emergency_expert", "status"]
    export_formatters = {"birth_date": lambda d: d.strftime("%Y-%m") if d else ""}
    export_loads = (selectinload(Expert.political_status), selectinload(Expert.user))
    list_title = "专家列表"
    show_title = "专家详情"
    add_title = "新增专家"
    edit_title = "编辑专家"
    label_columns = EXPERT_LABELS
    list_columns = ["application_no", "expert_no", "name", "gender", "id_number_masked",
                    "phone_masked", "prefecture", "main_specialty", "title", "admission_batch",
                    "status"]
    order_columns = ["application_no", "expert_no", "name", "admission_batch", "status"]
    base_order = ("id", "desc")
    show_fieldsets = [
        ("基本信息", {"fields": [
            "application_no", "expert_no", "account", "name", "gender", "birth_date",
            "id_number", "political_status", "prefecture", "address", "email", "phone",
            "backup_phone", "accepts_remote", "emergency_expert", "admission_type",
            "admission_batch", "status"]}),
        ("专业技术", {"fields": ["employer", "main_specialty", "extra_specialties", "title"]}),
        ("记录", {"fields": ["created_on", "changed_on", "version"]}),
    ]
    add_columns = ["name", "id_number", "political_status", "prefecture", "address", "email",
                   "phone", "backup_phone", "accepts_remote", "emergency_expert",
                   "admission_type", "admission_batch", "employer", "main_specialty",
                   "extra_specialties", "title"]
    edit_columns = add_columns
    search_columns = ["name", "expert_no", "application_no", "id_number", "phone",
                      "prefecture", "main_specialty", "title", "admission_type",
                      "admission_batch", "status", "employer"]
    exact_search_columns = ("id_number", "phone", "expert_no", "application_no")
    filter_row = ("name", ("id_number", "eq"), ("phone", "eq"), "prefecture", "main_specialty",
                  ("status", "expert_status"), ("admission_batch", "eq"))
    personal_data_object = "专家"  # full 身份证号 and phone numbers on show and edit
    prefix_search_columns = ("name",)
    formatters_columns = {"accepts_remote": yes_no, "emergency_expert": yes_no}
    validators_columns = {
        "name": [FieldCheck(validate_name)],
        "id_number": [FieldCheck(validate_id_number)],
        "phone": [FieldCheck(validate_phone, required=False)],
        "backup_phone": [FieldCheck(validate_phone, required=False)],
        "email": [FieldCheck(validate_email, required=False)],
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "admission_type": SelectField(
            "入库类型", choices=[(t.value, lazy_gettext(t.value)) for t in AdmissionType],
            widget=Select2Widget()),
    }
    description_columns = {
        "id_number": "18位身份证号；出生年月和性别由身份证号自动得出",
        "phone": "本人手机号码，也可用作登录账号",
    }
    related_views = EXPERT_TABS
    show_template = "registry/expert_show.html"

    def _get_related_views_widgets(self, item, orders=None, pages=None, page_sizes=None,
                                   widgets=None, **args):
        """Only the tab being looked at is built (?tab=EducationAdminView): building all
        ten related lists on every visit cost more than the rest of the page."""
        if request.endpoint != "ExpertAdminView.show":  # the edit page keeps FAB's way
            return super()._get_related_views_widgets(item, orders, pages, page_sizes,
                                                       widgets, **args)
        widgets = widgets or {}
        wanted = request.args.get("tab")
        widgets["related_views"] = []
        for view in self._related_views:
            name = type(view).__name__
            if name != wanted:
                widgets["related_views"].append(None)
                continue
            order_column, order_direction = (orders or {}).get(name) or ("", "")
            widgets["related_views"].append(self._get_related_view_widget(
                item, view, order_column, order_direction, page=(pages or {}).get(name),
                page_size=(page_sizes or {}).get(name)))
        return widgets

    def pre_add(self, item: Expert) -> None:
        expert_service.prepare_new_expert(db.session, item)

    def pre_update(self, item: Expert) -> None:
        expert_service.prepare_changed_expert(item)


def _reference_view(model, title: str, labels: dict[str, str], columns: list[str]):
    return type(f"{model.__name__}AdminView", (StaffModelView,), {
        "datamodel": SQLAInterface(model),
        "list_title": title, "show_title": title, "add_title": title, "edit_title": title,
        "label_columns": labels,
        "list_columns": columns, "show_columns": columns,
        "add_columns": columns, "edit_columns": columns,
        "search_columns": [c for c in columns if c not in ("senior",)],
        "formatters_columns": {"senior": yes_no},
        "base_order": ("code", "asc") if "code" in columns else ("id", "asc"),
    })


REFERENCE_VIEWS = [
    (_reference_view(Prefecture, "市州", {"code": "代码", "name": "名称", "kind": "类别"},
                     ["code", "name", "kind"]), "市州"),
    (_reference_view(PoliticalStatus, "政治面貌", {"code": "代码", "name": "名称"},
                     ["code", "name"]), "政治面貌"),
    (_reference_view(EducationLevel, "学历", {"code": "代码", "name": "名称"},
                     ["code", "name"]), "学历"),
    (_reference_view(Degree, "学位", {"code": "代码", "name": "名称"}, ["code", "name"]), "学位"),
    (_reference_view(TitleLevel, "职称级别",
                     {"code": "代码", "name": "名称", "senior": "副高级及以上"},
                     ["code", "name", "senior"]), "职称级别"),
    (_reference_view(Title, "职称", {"name": "职称名称", "level": "级别"},
                     ["name", "level"]), "职称"),
    (_reference_view(Specialty, "专业类别",
                     {"code": "代码", "name": "名称", "parent": "上级专业"},
                     ["code", "name", "parent"]), "专业类别"),
]


class ImportBatchAdminView(BeijingTimesMixin, StaffModelView):
    """导入记录: one row per import, written by the importer only."""

    datamodel = SQLAInterface(ImportBatch)
    beijing_time_columns = ("imported_at", "finished_at")
    base_permissions = ["can_list", "can_show"]
    base_order = ("imported_at", "desc")
    list_title = show_title = "导入记录"
    label_columns = {"file_name": "文件名", "imported_at": "导入时间", "created": "新增",
                     "unchanged": "已存在未更改", "failed": "失败", "sha256": "文件摘要",
                     "imported_by": "导入人"}
    list_columns = ["imported_at", "file_name", "created", "unchanged", "failed", "imported_by"]
    show_columns = [*list_columns, "sha256"]
    search_columns = ["file_name", "imported_at"]
    filter_row = ("file_name", "imported_at")


class StoredFileAdminView(BeijingTimesMixin, StaffModelView):
    """上传文件: metadata only; the files themselves are served by the file view."""

    datamodel = SQLAInterface(StoredFile)
    beijing_time_columns = ("created_on",)
    base_permissions = ["can_list", "can_show"]
    base_order = ("created_on", "desc")
    list_title = show_title = "上传文件"
    label_columns = {"owner": "上传人", "kind": "类别", "original_name": "文件名", "size": "大小（字节）",
                     "sha256": "摘要", "content_type": "文件类型", "created_on": "上传时间"}
    list_columns = ["created_on", "owner", "kind", "original_name", "size", "content_type"]
    show_columns = [*list_columns, "sha256"]
    search_columns = ["kind", "original_name", "content_type", "created_on"]
    filter_row = (("kind", "file_kind"), "original_name", ("content_type", "mime_type"), "created_on")
    word_columns = {"kind": "file_kind", "content_type": "mime_type"}


class ImportForm(FlaskForm):
    file = FileField("专家信息表（xlsx）")


class ExpertImportView(BaseView):
    """导入专家: the experts already in the library (2024 batches)."""

    route_base = "/experts/import"
    class_permission_name = "ExpertImport"
    # whoever imports follows the import and downloads its report
    method_permission_name = {"progress": "upload", "status": "upload", "report": "upload"}
    audience = "staff"
    default_view = "upload"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def upload(self):
        """The file is checked here, imported by the Celery worker (its page shows the
        progress, then the report)."""
        form = ImportForm()
        if form.validate_on_submit():
            upload = request.files.get("file")
            if not upload or not upload.filename:
                form.file.errors = ["请选择要导入的文件"]
            elif not upload.filename.lower().endswith(".xlsx"):
                form.file.errors = ["请上传 Excel 文件（.xlsx），可先下载导入模板"]
            else:
                batch = queue_import(db.session, upload.read(), file_name=upload.filename,
                                     actor=current_actor(),
                                     upload_dir=current_app.config["UPLOAD_FOLDER"],
                                     on_failure=lambda message: flash(message, "danger"))
                return redirect(url_for(".progress", batch_id=batch.id))
        return self.render_template("registry/import.html", form=form, report=None,
                                    columns=IMPORT_COLUMNS)

    @expose("/batch/<int:batch_id>")
    @has_access
    def progress(self, batch_id: int):
        """导入进度 (import.js polls ``status``), then the report: every row's result."""
        batch = db.get_or_404(ImportBatch, batch_id)
        report = None if batch.is_active else report_of(batch)
        return self.render_template("registry/import_batch.html", batch=batch, report=report,
                                    percent=import_progress(batch))

    @expose("/batch/<int:batch_id>/status")
    @has_access
    def status(self, batch_id: int):
        batch = db.get_or_404(ImportBatch, batch_id)
        response = jsonify(with_status_text(progress_state(batch)))
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/batch/<int:batch_id>/report.xlsx")
    @has_access
    def report(self, batch_id: int):
        """导出导入结果: the report as xlsx, once the import has finished."""
        batch = db.get_or_404(ImportBatch, batch_id)
        if batch.is_active:
            raise NotFound()
        return send_file(io.BytesIO(report_workbook(batch)), mimetype=EXPORT_MIME,
                         as_attachment=True, download_name=f"导入结果{batch.id}.xlsx")

    @expose("/template")
    @has_access
    def template(self):
        return send_file(io.BytesIO(template_workbook(db.session)), mimetype=EXPORT_MIME,
                         as_attachment=True, download_name="专家导入模板.xlsx")


class MyProfileView(ExpertScreen):
    """The expert's home in the 专家管理系统: their own profile in the manual's 12 tabs."""

    route_base = "/expert"
    class_permission_name = "MyProfile"
    default_view = "profile"

    @expose("/")
    @has_access
    def profile(self):
        # the account's own row (access's ownership rule), with every tab in one query each
        expert = db.session.execute(
            select(Expert)
            .options(
                selectinload(Expert.educations).joinedload(Education.education_level),
                selectinload(Expert.educations).joinedload(Education.degree),
                selectinload(Expert.educations).joinedload(Education.proof_file),
                selectinload(Expert.qualifications).joinedload(Qualification.file),
                selectinload(Expert.work_experiences),
                selectinload(Expert.evaluation_experiences), selectinload(Expert.expertises),
                selectinload(Expert.avoidance_units), selectinload(Expert.bank_accounts),
                selectinload(Expert.attachments).joinedload(Attachment.file),
                selectinload(Expert.review_records),
                selectinload(Expert.training_records), selectinload(Expert.extra_specialties),
            )
            .where(expert_owned_by(current_user.id))
        ).scalar_one_or_none()
        if expert is None:
            raise NotFound()
        return self.render_template("registry/my_profile.html", expert=expert,
                                    admitted=is_admitted(expert),
                                    can_modify=profile.can_modify(expert))


def register(appbuilder) -> None:
    add_menu_view(appbuilder, ExpertAdminView, "专家列表", category="专家库", icon="fa-users",
                        category_icon="fa-address-book")
    add_menu_view(appbuilder, ExpertImportView, "导入专家", category="专家库", icon="fa-upload")
    add_menu_view(appbuilder, ImportBatchAdminView, "导入记录", category="专家库", icon="fa-history")
    add_menu_view(appbuilder, StoredFileAdminView, "上传文件", category="专家库", icon="fa-file")
    for view in EXPERT_TABS:
        appbuilder.add_view_no_menu(view)
    for view, name in REFERENCE_VIEWS:
        add_menu_view(appbuilder, view, name, category="基础数据", category_icon="fa-list")
    add_menu_view(appbuilder, MyProfileView, "专家管理系统", icon="fa-id-card")
