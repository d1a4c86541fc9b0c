"""Shared pieces of the staff ModelViews."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, ModelView, expose
from flask_appbuilder.exceptions import DatabaseException
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy.exc import IntegrityError
from werkzeug.utils import send_file as werkzeug_send_file
from wtforms.validators import StopValidation
from wtforms.validators import ValidationError as WTFValidationError

from app import models
from app.extensions import db
from app.fab_fixes import db_int
from app.models import StoredFile
from app.services import audit, reference, settings, uploads, words
from app.services.access import own_expert
from app.services.audit import Action
from app.services.audit_hooks import current_actor
from app.services.uploads import UploadRejected, stored_path
from app.services.validators import ValidationError
from app.views._export import ExportMixin
from app.views._filters import (
    cleaned_list_args,
    default_filter_row,
    render_filter_row,
    setup_filter_row,
)
from app.views.fastlist import CachedSearchWidget, FilterPrefix
from app.views.widgets import apply_beijing_times, beijing_form_fields


class FieldCheck:
    """Runs one of our validators on a WTForms field: normalises the value in place,
    or shows the Chinese message beside the field. Empty optional fields pass."""

    def __init__(self, check: Callable[[str], Any], required: bool = True):
        self.check = check
        self.required = required

    def __call__(self, form, field) -> None:
        if not field.data and not self.required:
            field.data = None
            raise StopValidation()
        try:
            field.data = self.check(field.data)
        except ValidationError as exc:
            raise WTFValidationError(exc.message) from None


def blank_none(value: Any) -> Any:
    return "" if value is None else value


def file_link(stored: Any) -> Any:
    """A stored file as a link to the ownership-checked download."""
    if stored is None:
        return ""
    href = url_for("FileView.download", file_id=stored.id)
    return Markup(f'<a href="{href}">{escape(stored.original_name)}</a>')


def stored_file(raw: Any):
    """The stored file for an id sent in a form; None for letters or an id no column holds.
    Whose it is, is for the caller's rule to say (with its own message)."""
    file_id = db_int(raw)
    return db.session.get(StoredFile, file_id) if file_id is not None and file_id > 0 else None


def yes_no(value: Any) -> str:
    if value is None:
        return ""
    return gettext("是") if value else gettext("否")


def yuan_text(fen: Any) -> str:
    """A fee kept in 分 shown in 元 with two decimals (12000 → 120.00)."""
    return words.yuan(fen) if fen not in (None, "") else ""


def payment_method_text(code: Any) -> str:
    word = words.payment_method(code)
    return gettext(word) if word else ""


def mime_type_text(value: Any) -> str:
    word = words.mime_type(value)
    return gettext(word) if word else ""


def file_kind_text(name: Any) -> str:
    word = words.file_kind(name)
    return gettext(word) if word else ""


def _plain_errors(field) -> list[str]:
    """Each message once; FAB's unique check says which value is taken."""
    taken = {"Already exists.", str(gettext("Already exists."))}
    out: list[str] = []
    for error in field.errors or []:
        if error in taken:
            error = f"该{field.label.text}已存在"
        if error not in out:
            out.append(error)
    return out


def record_personal_data_view(object_type: str, pk: Any) -> None:
    """A page that shows full 身份证号, phone numbers or bank accounts was opened (the
    request commits the record with the page)."""
    audit.record(db.session, Action.VIEW_PERSONAL_DATA, actor=current_actor(),
                 object_type=object_type, object_id=pk)


# Statuses, kinds and audit actions are stored in Chinese (the enums' values); shown
# through the catalog so the English switch covers them. Only known values are looked
# up: a free-text column that happens to share a name keeps its text.
STATUS_WORDS: frozenset[str] = frozenset(
    {member.value for enum_class in (
        models.ExpertStatus, models.AdmissionType, models.ReviewStatus, models.PaymentStatus,
        models.FeeKind, models.AttemptStatus, models.CertificateStatus, models.BatchStatus,
        models.ChangeStatus, models.ExportStatus) for member in enum_class}
    | {v for k, v in vars(Action).items() if k.isupper() and isinstance(v, str)})
STATUS_COLUMNS = frozenset({"status", "review_status", "to_status", "from_status", "kind",
                            "admission_type", "action", "fee_kind"})


def status_text(value: Any) -> Any:
    if isinstance(value, str) and value in STATUS_WORDS:
        return gettext(value)
    return blank_none(value)


def with_status_text(data: dict[str, Any]) -> dict[str, Any]:
    """A progress answer (the pages poll it) with its stored status in the session's language."""
    return {**data, "status": status_text(data.get("status"))}


WORD_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "payment_method": payment_method_text, "mime_type": mime_type_text,
    "file_kind": file_kind_text}


class StaffModelView(ExportMixin, ModelView):
    """A generated staff screen: Chinese labels, explicit columns, exact-only search
    on personal data, and a form-level check hook that keeps what was typed."""

    audience = "staff"
    page_size = 20
    # newest first, and a stable order on every database (PostgreSQL returns an unordered
    # list in any order: a row just added could sit on another page)
    base_order = ("id", "desc")
    search_widget = CachedSearchWidget
    # Columns that may be searched by their exact value only (never by prefix).
    exact_search_columns: tuple[str, ...] = ()
    # Columns searched by prefix or exact value only: both walk an index.
    prefix_search_columns: tuple[str, ...] = ()
    # Set when the detail and edit pages show full personal data: each visit is recorded.
    personal_data_object: str | None = None
    # The always-visible filter row (app/views/_filters.py): columns, or (column, how);
    # None takes the first search columns.
    filter_row: tuple | None = None
    # Filters of the view's own over computed columns (column → one BaseFilter class), set
    # before the filter row is built; a row entry for one is (column, its choices).
    custom_filters: dict[str, type] = {}
    # Stored codes shown in words: column → table in app/services/words.py
    # ("payment_method", "mime_type", "file_kind").
    word_columns: dict[str, str] = {}

    def _init_properties(self):
        super()._init_properties()
        # Labels and titles are written in Chinese (the manual's words) and looked up
        # in translations/ at render time, so English can be chosen.
        self.label_columns = {k: lazy_gettext(v) for k, v in self.label_columns.items()}
        # the forms' help texts, likewise (written in Chinese, English from the catalog)
        self.description_columns = {
            k: lazy_gettext(v) if isinstance(v, str) else v
            for k, v in (self.description_columns or {}).items()}
        for attr in ("list_title", "show_title", "add_title", "edit_title"):
            value = getattr(self, attr, None)
            if isinstance(value, str):
                setattr(self, attr, lazy_gettext(value))
        # FAB prints an empty value as "None"; show it empty.
        shown = set(self.list_columns or []) | set(self.show_columns or [])
        for fieldset in self.show_fieldsets or []:
            shown |= set(fieldset[1]["fields"])
        # formats by column type, so no list or page can forget one: 是 / 否, 元
        # (``..._fen``), 北京时间 (apply_beijing_times below)
        typed: dict[str, Callable[[Any], Any]] = {}
        for col in shown:
            if self.datamodel.is_boolean(col):
                typed[col] = yes_no
            elif col.endswith("_fen"):
                typed[col] = yuan_text
            elif col in STATUS_COLUMNS:
                typed[col] = status_text
        for col, table in self.word_columns.items():
            typed[col] = WORD_FORMATTERS[table]
        self.formatters_columns = {
            **{col: blank_none for col in shown}, **typed, **(self.formatters_columns or {})}
        for col in self.exact_search_columns:
            only_equal = [FilterEqual(col, self.datamodel)]
            self._filters._search_filters[col] = only_equal
            self._filters._all_filters[col] = only_equal
        for col, filter_class in self.custom_filters.items():
            only = [filter_class(col, self.datamodel)]
            self._filters._search_filters[col] = only
            self._filters._all_filters[col] = only
        for col in self.prefix_search_columns:
            indexed = [FilterPrefix(col, self.datamodel), FilterEqual(col, self.datamodel)]
            self._filters._search_filters[col] = indexed
            self._filters._all_filters[col] = indexed
        apply_beijing_times(self)
        if self.filter_row is None:
            self.filter_row = default_filter_row(self)
        self._filter_row_fields = setup_filter_row(self)

    def _init_forms(self):
        for attr in ("add_form_extra_fields", "edit_form_extra_fields"):
            for field in (getattr(self, attr, None) or {}).values():
                # an extra field's help text written in Chinese, shown through the catalog
                description = getattr(field, "kwargs", {}).get("description")
                if isinstance(description, str) and description:
                    field.kwargs["description"] = lazy_gettext(description)
        beijing_form_fields(self)
        super()._init_forms()
        view = self
        for attr in ("add_form", "edit_form"):
            form_class = getattr(self, attr)

            class CheckedForm(form_class):
                def __init__(self, *args, **kwargs):
                    super().__init__(*args, **kwargs)
                    for field in self:
                        if hasattr(field, "blank_text"):
                            field.blank_text = "请选择"

                def validate(self, extra_validators=None):
                    valid = super().validate(extra_validators=extra_validators)
                    valid = view.check_form(self) and valid
                    for field in self:
                        field.errors = _plain_errors(field)
                    return valid

            CheckedForm.__name__ = form_class.__name__
            setattr(self, attr, CheckedForm)

    def _get_search_widget(self, form=None, exclude_cols=None, widgets=None):
        widgets = super()._get_search_widget(form=form, exclude_cols=exclude_cols,
                                             widgets=widgets)
        widgets["filter_row"] = lambda: render_filter_row(self)
        return widgets

    @expose("/list/")
    @has_access
    def list(self):
        # empty inputs of the filter row (sent without its script) and 前往's page number
        cleaned = cleaned_list_args(request.args, type(self).__name__)
        if cleaned is not None:
            query = urlencode(list(cleaned.items(multi=True)))
            return redirect(url_for(f"{type(self).__name__}.list") + (f"?{query}" if query else ""))
        return super().list()

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        page = super().show(pk)
        if self.personal_data_object:
            record_personal_data_view(self.personal_data_object, pk)
        return page

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        page = super().edit(pk)
        if self.personal_data_object and request.method == "GET":
            record_personal_data_view(self.personal_data_object, pk)
        return page

    def _delete(self, pk):
        """FAB's delete, refusing a row that other rows point at (a 市州 of experts, a 课程
        with enrolments) with a Chinese message and back to the list. The check comes
        first; a row pointed at meanwhile fails the database's foreign key, and that
        IntegrityError gets the same message instead of FAB's empty flash."""
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        what = str(self.list_title or self.datamodel.model_name)
        # FAB's redirect after a delete pops this page, then goes to the one before (the
        # list); each way out records it, or a refusal would land two pages back.
        self.update_redirect()
        refusal = reference.delete_refusal(db.session, item, what)
        if refusal:
            flash(refusal, "danger")
            return
        try:
            self.pre_delete(item)
        except Exception as exc:  # FAB's contract: a hook refuses by raising its message
            flash(str(exc), "danger")
            return
        try:
            self.datamodel.delete(item)
        except DatabaseException as exc:
            if isinstance(exc.__cause__, IntegrityError):
                # FAB rolled the session back: ask again what points at the row now.
                again = self.datamodel.get(pk, self._base_filters)
                refusal = reference.delete_refusal(db.session, again, what) if again is not None else None
                flash(refusal or reference.in_use_message(what, type(item)), "danger")
            else:
                flash(gettext("删除失败，请稍后再试"), "danger")
            return
        self.post_delete(item)
        flash(self.delete_row_message, "success")

    @expose("/download/<string:filename>")
    def download(self, filename):
        """FAB's download serves any file in UPLOAD_FOLDER to anyone with can_download;
        our files are served only through the ownership-checked file view."""
        abort(404)

    def check_form(self, form) -> bool:
        """Cross-field checks; add errors to ``form.<field>.errors`` and return False."""
        return True


class ExpertScreen(BaseView):
    """A screen of the expert's own: every record it shows hangs off ``_expert()``."""

    audience = "expert"

    def _expert(self):
        expert = own_expert(db.session, current_user)
        if expert is None:
            abort(404)
        return expert


class UploadFieldMixin:
    """A staff form with one ``upload`` field stored through the upload service when the
    form is checked (its error beside the field), attached to the new row on save."""

    upload_kind = "attachment"

    def upload_owner(self, form) -> int | None:
        return None

    def check_form(self, form) -> bool:
        if "upload" not in form:
            return True
        try:
            g.pending_upload = save_upload(request.files.get("upload"), self.upload_kind,
                                           self.upload_owner(form))
        except UploadRejected as exc:
            form.upload.errors = [*form.upload.errors, exc.message]
            return False
        return True

    def pre_add(self, item) -> None:
        item.file = g.pop("pending_upload", None)


def add_menu_view(appbuilder: Any, view: Any, name: str, category: str | None = None,
                  **kwargs: Any) -> Any:
    """add_view with the Chinese menu name also used, translated, as its label."""
    if category:  # FAB makes a category named None if passed category=None
        kwargs["category"] = category
        kwargs.setdefault("category_label", lazy_gettext(category))
    return appbuilder.add_view(view, name, label=lazy_gettext(name), **kwargs)


# --- uploaded files: stored and sent for every view -----------------------------------------

def save_upload(file_storage, kind_name: str, owner_id: int | None) -> StoredFile:
    """Store a file from a form through the upload service (UploadRejected on refusal; its
    audit record is flushed, and the caller shows the form again, so the request commits
    it)."""
    cfg = settings.config()
    data = file_storage.read() if file_storage else b""
    name = file_storage.filename if file_storage else ""
    try:
        stored = uploads.store(
            db.session, owner_id=owner_id, kind_name=kind_name, filename=name, data=data,
            upload_dir=cfg["UPLOAD_FOLDER"], image_max=cfg["UPLOAD_MAX_IMAGE_BYTES"],
            pdf_max=cfg["UPLOAD_MAX_DOCUMENT_BYTES"])
    except uploads.UploadRejected as exc:
        audit.record(db.session, Action.FILE_REJECTED, actor=current_actor(), object_type="文件",
                     detail=f"{uploads.safe_name(name)}：{exc.message}")
        db.session.flush()
        raise
    audit.record(db.session, Action.FILE_UPLOAD, actor=current_actor(), object_type="文件",
                 object_id=stored.id, detail=stored.original_name)
    return stored


def stored_file_response(environ, upload_dir: str, stored_name: str, content_type: str,
                         download_name: str | None = None, *, inline: bool = False,
                         conditional: bool = False, response_class=None,
                         use_x_sendfile: bool = False):
    """A kept file from ``upload_dir`` (None when it is gone), as an attachment, or inline
    in a frame of our own pages only. For the app (``send_stored``) and the download front,
    which has no Flask request."""
    path = stored_path(upload_dir, stored_name)
    if not path.is_file():
        return None
    resp = werkzeug_send_file(path, environ, mimetype=content_type, as_attachment=not inline,
                              download_name=download_name, max_age=0, conditional=conditional,
                              use_x_sendfile=use_x_sendfile, response_class=response_class)
    if inline:
        resp.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    return resp


def send_stored(stored_name: str, content_type: str, download_name: str | None = None, *,
                inline: bool = False, conditional: bool = False):
    """A kept file from UPLOAD_FOLDER (404 when it is gone); nosniff and no-store come with
    every answer (app.guards)."""
    cfg = current_app.config
    resp = stored_file_response(request.environ, cfg["UPLOAD_FOLDER"], stored_name, content_type,
                                download_name, inline=inline, conditional=conditional,
                                response_class=current_app.response_class,
                                use_x_sendfile=cfg.get("USE_X_SENDFILE", False))
    if resp is None:
        abort(404)
    return resp
