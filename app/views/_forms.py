"""The profile's forms (WTForms): the wizard's step 1 (专家入库申请), 【修改】 and the review's
opinions share them. The fields' words come from the application service's rules
(``BASIC``, ``SECTIONS``); what each input is (a select, a yes/no, an upload ...) is said here.

A form is read from the request (every value as typed, for 暂存), and checked from the draft
(formats here, through thin adapters over ``app.services.validators``; what needs the
database, the required fields and the locks in the services). Input names stay those the
pages always had: ``b_email`` for the basic fields, ``educations-0-school`` for the rows
(``FieldList(FormField(...))``), ``b_photo_file`` / ``b_photo_file__upload`` for the
kept upload's id and the file input.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    Field,
    FieldList,
    Form,
    FormField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.utils import unset_value
from wtforms.validators import StopValidation
from wtforms.validators import ValidationError as WTFValidationError

from app.extensions import db
from app.fab_fixes import db_int
from app.models import (
    Degree,
    EducationLevel,
    PoliticalStatus,
    Prefecture,
    Specialty,
    Title,
    TitleLevel,
)
from app.services import application as app_service
from app.services import validators as v
from app.services.application import BASIC_BY_NAME, SECTION_BY_NAME, SECTIONS
from app.services.uploads import UploadRejected
from app.views.base import save_upload

MAX_TEXT = 200
# The reference lists the profile's selects offer.
REFERENCE_SOURCES = (PoliticalStatus, Prefecture, Specialty, Title, EducationLevel, Degree,
                     TitleLevel)


def _text(value: Any) -> str:
    """A choice as the draft keeps it: the id as text, nothing as ''."""
    return "" if value is None else str(value)


# ---------------------------------------------------------------- validator adapters

class DateValue:
    """年-月-日 as typed or picked (``validators.parse_date``); the date is kept on the field."""

    def __call__(self, form, field) -> None:
        try:
            field.clean = v.parse_date(field.data)
        except v.ValidationError as exc:
            raise StopValidation(exc.message) from None
        if field.clean is None:
            raise StopValidation()


class NotAfterToday:
    """``validators.check_not_after_today`` with the field's own label (Beijing's today)."""

    def __call__(self, form, field) -> None:
        try:
            v.check_not_after_today(getattr(field, "clean", None), str(field.label.text))
        except v.ValidationError as exc:
            raise WTFValidationError(exc.message) from None


class NotBefore:
    """An end date: ``validators.check_start_not_after_end`` against the row's start."""

    def __init__(self, start: str = "start_date"):
        self.start = start

    def __call__(self, form, field) -> None:
        start = form[self.start]
        if start.errors:
            return
        try:
            v.check_start_not_after_end(getattr(start, "clean", None),
                                        getattr(field, "clean", None))
        except v.ValidationError as exc:
            raise WTFValidationError(exc.message) from None


class MaxText:
    def __call__(self, form, field) -> None:
        if field.data and len(field.data.strip()) > MAX_TEXT:
            raise WTFValidationError(f"{field.label.text}过长")


class Checked:
    """One of the validators (e-mail, phone, credit code) on a field: the normalised value
    replaces the typed one, or its Chinese message is shown beside the field. Empty (or
    blank) is left to the rules, which say whether the field is needed."""

    def __init__(self, check: Callable[[str], Any]):
        self.check = check

    def __call__(self, form, field) -> None:
        text = (field.data or "").strip()
        if not text:
            field.data = None
            raise StopValidation()
        try:
            field.data = self.check(text)
        except v.ValidationError as exc:
            raise StopValidation(exc.message) from None


# ---------------------------------------------------------------- fields

class TextInput(StringField):
    kind = "text"

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators or [MaxText()], **kwargs)


class CheckedText(StringField):
    """Text whose format one of the validators judges (it also normalises it)."""

    kind = "text"


class LongText(TextAreaField):
    kind = "textarea"


class DateInput(StringField):
    """Kept as typed (a draft keeps "2001-3-x" too); checked into a date."""

    kind = "date"

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, [DateValue(), NotAfterToday(), *(validators or [])], **kwargs)


class RefSelect(SelectField):
    """One row of a reference list (政治面貌, 所在市州, ...), by id; the choices are the list's."""

    kind = "select"

    def __init__(self, label=None, validators=None, source: type | None = None, **kwargs):
        super().__init__(label, validators, coerce=_text, validate_choice=False, **kwargs)
        self.source = source

    def pre_validate(self, form) -> None:
        if self.data and self.data not in {key for key, _ in self.choices or ()}:
            raise StopValidation(f"请选择有效的{self.label.text}")


class RefMulti(SelectMultipleField):
    kind = "multi"

    def __init__(self, label=None, validators=None, source: type | None = None, **kwargs):
        super().__init__(label, validators, coerce=_text, validate_choice=False, **kwargs)
        self.source = source


class YesNo(RadioField):
    kind = "bool"

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, choices=[("1", "是"), ("0", "否")],
                         coerce=_text, validate_choice=False, **kwargs)

    def pre_validate(self, form) -> None:
        if self.data not in (None, "", "1", "0"):
            raise StopValidation(f"请选择{self.label.text}")


class Upload(Field):
    """A kept upload: the hidden input holds its id (``name``), the file input
    (``name__upload``) brings a new one, stored at once (a refused form keeps it)."""

    kind = "file"

    def __init__(self, label=None, validators=None, upload_kind: str = "attachment", **kwargs):
        super().__init__(label, validators, **kwargs)
        self.upload_kind = upload_kind
        self.upload = None

    def process(self, formdata, data=unset_value, extra_filters=None):
        super().process(formdata, data, extra_filters)
        upload = formdata.get(f"{self.name}__upload") if formdata is not None else None
        self.upload = upload if upload is not None and getattr(upload, "filename", "") else None

    def process_formdata(self, valuelist) -> None:
        if valuelist:
            self.data = valuelist[0]

    def _value(self) -> str:
        return "" if self.data is None else str(self.data)

    def kept_id(self, before: str) -> str:
        """The upload id kept in the draft: the posted one when it can be an id (or empty:
        removed), else what was kept before. The page links the kept id, so a draft never
        keeps letters; whose file it is, is checked with the step (请重新上传...)."""
        if not self.raw_data or not isinstance(self.raw_data[0], str):
            return before  # not posted (or a file sent under the id's name)
        posted = self.raw_data[0].strip()
        if not posted:
            return ""
        file_id = db_int(posted)
        return str(file_id) if file_id is not None and file_id > 0 else before


def _label(name: str) -> str:
    return BASIC_BY_NAME[name].label


# ---------------------------------------------------------------- the profile's forms

class BasicForm(Form):
    """基本信息 and 专业技术 (the fields that are not rows)."""

    political_status = RefSelect(_label("political_status"), source=PoliticalStatus)
    prefecture = RefSelect(_label("prefecture"), source=Prefecture)
    address = TextInput(_label("address"))
    email = CheckedText(_label("email"), [Checked(v.validate_email)])
    phone = CheckedText(_label("phone"), [Checked(v.validate_phone)])
    backup_phone = CheckedText(_label("backup_phone"), [Checked(v.validate_phone)])
    accepts_remote = YesNo(_label("accepts_remote"))
    emergency_expert = YesNo(_label("emergency_expert"))
    photo_file = Upload(_label("photo_file"), upload_kind="photo")
    id_front_file = Upload(_label("id_front_file"), upload_kind="id_front")
    id_back_file = Upload(_label("id_back_file"), upload_kind="id_back")
    employer = TextInput(_label("employer"))
    main_specialty = RefSelect(_label("main_specialty"), source=Specialty)
    extra_specialties = RefMulti(_label("extra_specialties"), source=Specialty)
    title = RefSelect(_label("title"), source=Title)
    title_cert_file = Upload(_label("title_cert_file"), upload_kind="title_certificate")


def _labels_of(section: str) -> dict[str, str]:
    """A section's words (the service's rules), for its row form's labels."""
    return {f.name: f.label for f in SECTION_BY_NAME[section].fields}


# Each row form lists its fields in the order of the service's section (the table's headers).
L = _labels_of("educations")


class EducationRow(Form):
    education_level = RefSelect(L["education_level"], source=EducationLevel)
    degree = RefSelect(L["degree"], source=Degree)
    school = TextInput(L["school"])
    major = TextInput(L["major"])
    start_date = DateInput(L["start_date"])
    end_date = DateInput(L["end_date"], [NotBefore()])
    proof_file = Upload(L["proof_file"], upload_kind="education_proof")


L = _labels_of("qualifications")


class QualificationRow(Form):
    name = TextInput(L["name"])
    title_level = RefSelect(L["title_level"], source=TitleLevel)
    is_registered = YesNo(L["is_registered"])
    certificate_no = TextInput(L["certificate_no"])
    issue_date = DateInput(L["issue_date"])
    file = Upload(L["file"], upload_kind="qualification")


L = _labels_of("work_experiences")


class WorkRow(Form):
    start_date = DateInput(L["start_date"])
    end_date = DateInput(L["end_date"], [NotBefore()])
    employer = TextInput(L["employer"])
    position = TextInput(L["position"])
    referee = TextInput(L["referee"])


L = _labels_of("evaluation_experiences")


class EvaluationRow(Form):
    evaluated_on = DateInput(L["evaluated_on"])
    project_name = TextInput(L["project_name"])
    tenderer = TextInput(L["tenderer"])
    role = TextInput(L["role"])


class ExpertiseRow(Form):
    content = LongText(_labels_of("expertises")["content"], [MaxText()])


L = _labels_of("avoidance_units")


class AvoidanceRow(Form):
    name = TextInput(L["name"])
    credit_code = CheckedText(L["credit_code"], [Checked(v.validate_credit_code)])
    reason = TextInput(L["reason"])


L = _labels_of("bank_accounts")


class BankRow(Form):
    bank_name = TextInput(L["bank_name"])
    account_no = TextInput(L["account_no"])
    holder = TextInput(L["holder"])


L = _labels_of("attachments")


class AttachmentRow(Form):
    title = TextInput(L["title"])
    file = Upload(L["file"], upload_kind="attachment")


del L


def _rows(row_form: type[Form]) -> FieldList:
    return FieldList(FormField(row_form), max_entries=app_service.MAX_ROWS)


class ProfileForm(FlaskForm):
    """Every field of the profile. CSRF is checked for every POST by CSRFProtect (as for
    every other form of the app), so this form does not check it a second time."""

    class Meta:
        csrf = False

    first_professional = app_service.FIRST_PROFESSIONAL  # where the page's 专业水平 starts

    b = FormField(BasicForm, separator="_")
    educations = _rows(EducationRow)
    qualifications = _rows(QualificationRow)
    work_experiences = _rows(WorkRow)
    evaluation_experiences = _rows(EvaluationRow)
    expertises = _rows(ExpertiseRow)
    avoidance_units = _rows(AvoidanceRow)
    bank_accounts = _rows(BankRow)
    attachments = _rows(AttachmentRow)

    def sections(self) -> list[tuple[Any, FieldList]]:
        """(the service's section, its rows) in the page's order."""
        return [(section, self[section.name]) for section in SECTIONS]

    def basic_fields(self) -> list[Field]:
        return list(self.b.form)


def reference_options() -> dict[str, list[tuple[str, str]]]:
    """Choices of every select of the profile, by reference table (one query per table)."""
    return {source.__name__: [(str(r.id), str(r)) for r in
                              db.session.execute(select(source)).scalars().all()]
            for source in REFERENCE_SOURCES}


def profile_form(data: dict | None = None, options: dict | None = None) -> ProfileForm:
    """The form showing a draft (``data`` as ``application.load`` gives it), choices set."""
    kwargs = {}
    if data is not None:
        kwargs = {"b": data.get("basic", {}),
                  **{s.name: data.get("sections", {}).get(s.name, []) for s in SECTIONS}}
    form = ProfileForm(formdata=None, data=kwargs)
    _set_choices(form, options if options is not None else reference_options())
    return form


def posted_profile_form(options: dict | None = None) -> ProfileForm:
    """The form as the request sent it (request.form and request.files)."""
    form = ProfileForm()
    _set_choices(form, options if options is not None else reference_options())
    return form


def _set_choices(form: ProfileForm, options: dict) -> None:
    for field in _all_fields(form):
        source = getattr(field, "source", None)
        if source is not None:
            field.choices = options.get(source.__name__, [])
        rule = _rule_of(field)
        field.required = bool(rule and rule.required)


def _all_fields(form: ProfileForm):
    yield from form.b.form
    for _, rows in form.sections():
        for entry in rows:
            yield from entry.form


def _rule_of(field: Field):
    parts = field.name.split("-")
    if len(parts) == 3:
        section = SECTION_BY_NAME.get(parts[0])
        return next((f for f in section.fields if f.name == parts[2]), None) if section else None
    return BASIC_BY_NAME.get(field.short_name)


# ---------------------------------------------------------------- form ↔ draft ↔ plain values

def _raw(field: Field) -> Any:
    if isinstance(field, RefMulti):
        return [value for value in field.raw_data or [] if isinstance(value, str)]
    value = field.raw_data[0] if field.raw_data else ""
    return value if isinstance(value, str) else ""


def read_posted(form: ProfileForm, data: dict, errors: dict[str, str], owner_id: int,
                skip: set[str]) -> None:
    """Everything posted into the draft ``data``, as typed; uploads stored at once (a refused
    one gets its message in ``errors``). Fixed and locked fields and sections (``skip``)
    are not read, whatever was posted."""
    basic = data["basic"]
    for field in form.b.form:
        name = field.short_name
        if name in app_service.FIXED or name in skip:
            continue
        if isinstance(field, Upload):
            basic[name] = field.kept_id(basic.get(name, ""))
            _store_upload(field, basic, name, owner_id, errors)
        else:
            basic[name] = _raw(field)
    for section, rows in form.sections():
        if section.name in skip:
            continue
        kept = []
        for entry in rows:
            row = {}
            for field in entry.form:
                if isinstance(field, Upload):
                    row[field.short_name] = field.kept_id("")
                    _store_upload(field, row, field.short_name, owner_id, errors)
                else:
                    row[field.short_name] = _raw(field)
            kept.append(row)
        data["sections"][section.name] = kept


def _store_upload(field: Upload, slot: dict, key: str, owner_id: int,
                  errors: dict[str, str]) -> None:
    if field.upload is None:
        return
    try:
        stored = save_upload(field.upload, field.upload_kind, owner_id)
    except UploadRejected as exc:
        errors[field.name] = exc.message
        return
    slot[key] = str(stored.id)


def store_single_upload(name: str, kind: str, owner_id: int, files) -> Any:
    """One upload outside the profile (step 3's signed form, 异动申请's attachment): the
    stored file, None when nothing was sent; UploadRejected on refusal."""
    upload = files.get(f"{name}__upload")
    if upload is None or not upload.filename:
        return None
    return save_upload(upload, kind, owner_id)


def check_profile(data: dict, skip: set[str], options: dict | None = None
                  ) -> tuple[dict, dict[str, str]]:
    """The draft's formats checked: (plain values for the services, errors by input name).
    A field with a format error is left out of the values (its message is already there)."""
    form = profile_form(data, options)
    for name in skip:
        if name in form.b.form._fields:
            del form.b.form[name]
    for name in skip & SECTION_BY_NAME.keys():
        del form[name]
    form.validate()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"basic": {}, "sections": {},
                              "admission_type": data.get("admission_type", "")}
    for field in form.b.form:
        if field.errors:
            errors[field.name] = field.errors[0]
        else:
            values["basic"][field.short_name] = _plain(field)
    for section in SECTIONS:
        if section.name in skip:
            continue
        rows = []
        for entry in form[section.name]:
            row = {}
            for field in entry.form:
                if field.errors:
                    errors[field.name] = field.errors[0]
                else:
                    row[field.short_name] = _plain(field)
            rows.append(row)
        values["sections"][section.name] = rows
    return values, errors


def _plain(field: Field) -> Any:
    """A checked field's value as the services take it."""
    if isinstance(field, DateInput):
        return getattr(field, "clean", None)
    if isinstance(field, RefMulti):
        return [int(i) for i in field.data or [] if app_service.is_id(i)]
    if isinstance(field, RefSelect | Upload):
        return int(field.data) if app_service.is_id(field.data) else (field.data or None)
    if isinstance(field, YesNo):
        return {"1": True, "0": False}.get(field.data)
    return field.data.strip() if isinstance(field.data, str) else field.data


def input_names(errors: dict[str, str]) -> dict[str, str]:
    """The services' error keys ('email', 'educations-0-school') as the inputs' names."""
    return {(f"b_{key}" if key in BASIC_BY_NAME else key): message
            for key, message in errors.items()}


def invalid_keys(errors: dict[str, str]) -> set[str]:
    """The form's error names as the services' keys (to leave them out of their checks)."""
    return {key[2:] if key.startswith("b_") else key for key in errors}


def change_rows(data: dict, action: str) -> str | None:
    """添加一行 / 删除 without JavaScript: 'add:educations', 'remove:educations:2'. Returns the
    section's name (the page's anchor), None for anything else."""
    parts = action.split(":")
    if len(parts) < 2 or parts[1] not in SECTION_BY_NAME:
        return None
    if parts[0] == "add":
        app_service.add_row(data, parts[1])
    elif parts[0] == "remove" and len(parts) == 3 and parts[2].isascii() and parts[2].isdigit():
        app_service.remove_row(data, parts[1], int(parts[2]))
    return parts[1]


# ---------------------------------------------------------------- the review's opinions

BASIC_OPINION = ("basic", "基本信息")


class ReviewForm(FlaskForm):
    """通过 / 退回 an application: the opinion, one optional opinion per part of the profile
    (``opinion-basic``, ``opinion-educations``, ...: the same sections as the wizard's) and
    the version the reviewer saw. CSRF: CSRFProtect, as for the profile's form."""

    class Meta:
        csrf = False

    action = StringField()
    version = StringField()
    opinion = TextAreaField()

    def section_opinions(self) -> dict[str, str]:
        """The per-part opinions by the part's label (the order the 退回 message lists them)."""
        parts = [(s.name, s.label) for s in SECTIONS] + [BASIC_OPINION]
        return {label: self[f"opinion_{name}"].data or "" for name, label in parts}

    def typed(self) -> dict[str, str]:
        """What the reviewer typed, by input name, for the page shown again."""
        return {"opinion": self.opinion.data or "",
                **{field.name: field.data or "" for field in self
                   if field.name.startswith("opinion-")}}


for _name, _label_text in [BASIC_OPINION] + [(s.name, s.label) for s in SECTIONS]:
    setattr(ReviewForm, f"opinion_{_name}", StringField(_label_text, name=f"opinion-{_name}"))
