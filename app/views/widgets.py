"""Form widgets of the staff screens: dates and times in 北京时间.

Why the browser's own ``<input type="datetime-local" step="1">`` and not a JavaScript
picker: FAB's DateTimePickerWidget is wired (ab.js) to bootstrap-datepicker with a date-only
format, so it cuts the time off what is typed or picked and the form then refuses the value.
The native input needs no script (nothing to vendor, nothing for the CSP to allow), shows
its calendar and clock in the browser's language (Chinese on the department's machines),
takes seconds optionally with ``step=1``, and is supported by the Chromium-based browsers
used on the intranet (Chrome, Edge, 360, QQ), Firefox 93+ and Safari 14.1+. A browser without
it shows a plain text box: the field also accepts the typed ``2026-12-01 09:00[:00]``, and
the help text under it says so.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterGreater, FilterSmaller, get_field_setup_query
from flask_babel import gettext, lazy_gettext
from markupsafe import Markup
from wtforms import Field
from wtforms.validators import StopValidation
from wtforms.widgets import html_params

from app.models import BEIJING, local_time
from app.services.validators import (
    DATETIME_FIRST_YEAR,
    DATETIME_LAST_YEAR,
    ValidationError,
    parse_local_datetime,
)
from app.services.words import fen_from_yuan, yuan

PICKER_FORMAT = "%Y-%m-%dT%H:%M:%S"  # the value format of datetime-local (seconds shown)


class BeijingDateTimeInput:
    """``<input type="datetime-local" step="1">``, bounded to the years the field accepts."""

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        kwargs["class"] = f"form-control beijing-datetime {kwargs.get('class', '')}".strip()
        if field.flags.required:
            kwargs.setdefault("required", True)
        params = html_params(
            type="datetime-local", step="1", name=field.name, value=field._value(),
            min=f"{DATETIME_FIRST_YEAR}-01-01T00:00", max=f"{DATETIME_LAST_YEAR}-12-31T23:59:59",
            **kwargs)
        return Markup(f"<input {params}>")


class FilledIn:
    """Required, with the field's name in the message (WTForms' own says only 必填)."""

    field_flags = {"required": True}

    def __call__(self, form, field: Field) -> None:
        if not (field.raw_data and str(field.raw_data[0]).strip()):
            field.errors[:] = []
            raise StopValidation(gettext("请填写%(field)s", field=field.label.text))


class BeijingDateTimeField(Field):
    """A UTC ``DateTime`` column entered and shown in 北京时间, to the second.

    ``data`` is the UTC value (what the model stores); the form shows and reads 北京时间.
    A value the field cannot read is shown back as it was typed, with the message beside it.
    """

    widget = BeijingDateTimeInput()

    def __init__(self, label=None, validators=None, required: bool = True, **kwargs):
        if required:
            validators = [FilledIn(), *(validators or [])]
        kwargs.setdefault("description", lazy_gettext(
            "北京时间；可用日历选择，或输入如 2026-12-01 09:00，秒可不填"))
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist: list[str]) -> None:
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            self.data = None
            return
        try:
            self.data = parse_local_datetime(text) - BEIJING
        except ValidationError as exc:
            self.data = None
            raise ValueError(gettext(exc.message)) from None

    def process_data(self, value: dt.datetime | None) -> None:
        # stored rows carry microseconds (utcnow()); the screen and the next save do not
        self.data = value.replace(microsecond=0) if value else None

    def _value(self) -> str:
        if self.data is not None:
            return (self.data + BEIJING).strftime(PICKER_FORMAT)
        return self.raw_data[0] if self.raw_data else ""


class _BeijingFilter:
    """A search filter on a UTC column whose value is typed or picked in 北京时间."""

    def apply(self, query, value):
        try:
            value = parse_local_datetime(value) - BEIJING
        except ValidationError:
            return query  # as FAB does with a value it cannot read: no filter
        return super().apply(query, value)


class BeijingAfter(_BeijingFilter, FilterGreater):
    name = lazy_gettext("晚于")


class BeijingBefore(_BeijingFilter, FilterSmaller):
    name = lazy_gettext("早于")


class BeijingFromDay(_BeijingFilter, FilterGreater):
    """The filter row's 起始日期: from 00:00:00 北京时间 of the day picked."""

    name = lazy_gettext("起始日期")

    def apply(self, query, value):
        return super().apply(query, _day_start(value, 0))


class BeijingToDay(_BeijingFilter, FilterSmaller):
    """The filter row's 截止日期: up to the end of the day picked (before the next 00:00)."""

    name = lazy_gettext("截止日期")

    def apply(self, query, value):
        return super().apply(query, _day_start(value, 1))


def _day_start(value: Any, days_after: int) -> str:
    """``2026-12-03`` → ``2026-12-03 00:00:00`` (or the next day's); a full time is kept."""
    text = str(value or "").strip()
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return text
    return (dt.datetime.combine(day, dt.time()) + dt.timedelta(days=days_after)).strftime(
        "%Y-%m-%d %H:%M:%S")


class FilterYesNo(BaseFilter):
    """是 / 否 on a boolean column (FAB's 等于 reads only ``y`` as true)."""

    name = lazy_gettext("是否")

    def apply(self, query, value):
        query, field = get_field_setup_query(query, self.model, self.column_name)
        text = str(value or "").strip().lower()
        if text in ("1", "y", "true", "是"):
            return query.filter(field.is_(True))
        if text in ("0", "n", "false", "否"):
            return query.filter(field.is_(False))
        return query


class YuanInput:
    """A money box in 元 with two decimals."""

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        kwargs["class"] = f"form-control yuan {kwargs.get('class', '')}".strip()
        if field.flags.required:
            kwargs.setdefault("required", True)
        params = html_params(type="text", inputmode="decimal", name=field.name,
                             value=field._value(), **kwargs)
        return Markup(f"<input {params}>")


class YuanField(Field):
    """A fee stored in 分 (an ``..._fen`` column), typed and shown in 元: 300 or 300.00."""

    widget = YuanInput()

    def __init__(self, label=None, validators=None, required: bool = True, **kwargs):
        if required:
            validators = [FilledIn(), *(validators or [])]
        kwargs.setdefault("description", lazy_gettext("单位：元，如 300 或 300.00"))
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist: list[str]) -> None:
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            self.data = None
            return
        try:
            self.data = fen_from_yuan(text)
        except ValueError as exc:
            self.data = None
            raise ValueError(gettext(str(exc))) from None

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return yuan(self.data) if self.data is not None else ""


class BeijingTimesMixin:
    """Kept for the views that name it: every StaffModelView now shows, takes and searches
    its ``DateTime`` columns in 北京时间 (found from the model's column types, see
    :func:`beijing_time_columns`), so a new column cannot be forgotten."""

    beijing_time_columns: tuple[str, ...] = ()


def beijing_time_columns(view: Any) -> tuple[str, ...]:
    """The view's UTC ``DateTime`` columns: those it names and every one of its model."""
    found = [c for c in view.datamodel.get_columns_list() if view.datamodel.is_datetime(c)]
    return tuple(dict.fromkeys([*getattr(view, "beijing_time_columns", ()), *found]))


def apply_beijing_times(view: Any) -> None:
    """List and detail pages show the columns in 北京时间 without microseconds; searching
    them means 北京时间 too (晚于 / 早于: stored times carry microseconds, so 等于 would
    never match). The labels come from ``label_columns`` (say （北京时间） there)."""
    columns = beijing_time_columns(view)
    view.beijing_time_columns = columns
    view.formatters_columns = {
        **(view.formatters_columns or {}), **{col: local_time for col in columns}}
    for col in columns:
        if col in (view.search_columns or []):
            filters = [BeijingAfter(col, view.datamodel), BeijingBefore(col, view.datamodel)]
            view._filters._search_filters[col] = filters
            view._filters._all_filters[col] = filters


def beijing_form_fields(view: Any) -> None:
    """The add and edit forms take the columns in 北京时间 through
    :class:`BeijingDateTimeField` (a nullable column is optional), fees in 元 through
    :class:`YuanField`; FAB's search field would call a picker its scripts do not have."""
    columns = view.beijing_time_columns
    fee_columns = [c for c in view.datamodel.get_columns_list() if c.endswith("_fen")]
    for attr in ("add_form_extra_fields", "edit_form_extra_fields"):
        fields = {}
        for col in columns:
            options = {"required": not view.datamodel.is_nullable(col)}
            if (view.description_columns or {}).get(col):
                options["description"] = view.description_columns[col]
            fields[col] = BeijingDateTimeField(view.label_columns.get(col, col), **options)
        for col in fee_columns:
            options = {"required": not view.datamodel.is_nullable(col)}
            if (view.description_columns or {}).get(col):
                options["description"] = view.description_columns[col]
            fields[col] = YuanField(view.label_columns.get(col, col), **options)
        setattr(view, attr, {**fields, **(getattr(view, attr, None) or {})})
    view.search_form_extra_fields = {
        **{col: BeijingDateTimeField(view.label_columns.get(col, col), required=False,
                                     description="")
           for col in columns if col in (view.search_columns or [])},
        **(view.search_form_extra_fields or {})}
