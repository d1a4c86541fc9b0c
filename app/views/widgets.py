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

from flask_appbuilder.models.sqla.filters import FilterGreater, FilterSmaller
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


class BeijingTimesMixin:
    """For a ModelView with UTC ``DateTime`` columns: its forms take them in 北京时间 through
    :class:`BeijingDateTimeField`, and its list and detail pages show them in 北京时间 without
    microseconds; searching them means 北京时间 too (晚于 / 早于: stored times carry
    microseconds, so 等于 would never match). Name the columns in ``beijing_time_columns``;
    the labels come from ``label_columns`` (say （北京时间） there); a nullable column is
    optional in the form."""

    beijing_time_columns: tuple[str, ...] = ()

    def _init_properties(self) -> None:
        super()._init_properties()
        self.formatters_columns = {
            **(self.formatters_columns or {}),
            **{col: local_time for col in self.beijing_time_columns}}
        for col in self.beijing_time_columns:
            if col in (self.search_columns or []):
                filters = [BeijingAfter(col, self.datamodel), BeijingBefore(col, self.datamodel)]
                self._filters._search_filters[col] = filters
                self._filters._all_filters[col] = filters

    def _init_forms(self) -> None:
        for attr in ("add_form_extra_fields", "edit_form_extra_fields"):
            fields = {}
            for col in self.beijing_time_columns:
                options = {"required": not self.datamodel.is_nullable(col)}
                if (self.description_columns or {}).get(col):
                    options["description"] = self.description_columns[col]
                fields[col] = BeijingDateTimeField(self.label_columns.get(col, col), **options)
            setattr(self, attr, {**fields, **(getattr(self, attr, None) or {})})
        # FAB's search field calls a picker its scripts do not have (a script error)
        self.search_form_extra_fields = {
            **{col: BeijingDateTimeField(self.label_columns.get(col, col), required=False,
                                         description="")
               for col in self.beijing_time_columns if col in (self.search_columns or [])},
            **(self.search_form_extra_fields or {})}
        super()._init_forms()
