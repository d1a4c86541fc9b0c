"""The always-visible filter row above every staff list (查询 / 重置), in the style of the
Element-UI admin panels the department's staff know.

The row is a second face of FAB's own filters: each input is named as FAB names a filter
(``_flt_<index>_<column>``, the index of the filter class in FAB's list for that column), so
FAB's query, its search widget, the paging links and the export all read the same filter.
A view names its fields in ``filter_row``: a column, or ``(column, how)`` where ``how`` is
``"eq"`` (exact), ``"prefix"``, ``"contains"``, the name of a choice list in
:data:`CHOICES` (so a view names its choices without importing them), an Enum class or a
list of (value, label) choices. Relations and choices are selects with 全部 first; ``DateTime`` columns are a
起始日期 – 截止日期 pair in 北京时间; booleans are 是 / 否.
"""
from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request, url_for
from flask_appbuilder.models.sqla.filters import (
    FilterContains,
    FilterEqual,
    FilterRelationOneToManyEqual,
    FilterStartsWith,
)
from flask_babel import get_locale, gettext
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import (
    AdmissionType,
    BatchStatus,
    CertificateStatus,
    ChangeStatus,
    ExpertStatus,
    FeeKind,
    PaymentStatus,
    ReviewStatus,
)
from app.services import words
from app.services.audit import Action
from app.services.exam import KINDS as QUESTION_KINDS
from app.views.fastlist import REFERENCE_TABLES, FilterPrefix
from app.views.widgets import (
    BeijingAfter,
    BeijingBefore,
    BeijingFromDay,
    BeijingToDay,
    FilterYesNo,
)

PAGE_SIZES = (10, 20, 50, 100)
# relations a select may list in full (an expert or user select would hold a million rows)
SMALL_TABLES = REFERENCE_TABLES | {"training_round", "course", "import_batch"}
OPTIONS_TTL_SECONDS = 60.0
MAX_OPTIONS = 500  # a select longer than this is no help; such a column gets a text box
_options: dict[tuple, tuple[float, list[tuple[str, str]]]] = {}
_lock = threading.Lock()


# The choice lists a filter row's select may name: the state machines' enums and the word
# tables (value stored → word shown).
CHOICES: dict[str, Any] = {
    "expert_status": ExpertStatus,
    "admission_type": AdmissionType,
    "review_status": ReviewStatus,
    "payment_status": PaymentStatus,
    "fee_kind": FeeKind,
    "change_status": ChangeStatus,
    "certificate_status": CertificateStatus,
    "batch_status": BatchStatus,
    "audit_action": [(v, v) for k, v in vars(Action).items()
                     if k.isupper() and isinstance(v, str)],
    "payment_method": list(words.PAYMENT_METHODS.items()),
    "mime_type": list(words.MIME_TYPES.items()),
    "file_kind": words.file_kinds(),
    "question_kind": [(k, k) for k, _ in QUESTION_KINDS],
}
TEXT_MODES = ("eq", "prefix", "contains")


@dataclass
class RowField:
    column: str
    label: Any
    kind: str  # "text" | "select" | "dates"
    args: tuple[str, ...]  # the request argument(s) the input(s) submit as
    choices: Callable[[], list[tuple[str, str]]] | None = None
    values: list[str] = field(default_factory=list)


def _index(filters: list, wanted: tuple[type, ...], column: str) -> int:
    for i, flt in enumerate(filters):
        if type(flt) in wanted:
            if i > 9:  # FAB reads the index as one digit (_flt_(\d)_...)
                raise ValueError(f"filter row: filter of {column} beyond index 9")
            return i
    raise ValueError(f"filter row: no {wanted[0].__name__} for column {column}")


def _ensure(view: Any, column: str, filter_class: type) -> int:
    """The index of ``filter_class`` in the column's filter list, appended when missing
    (the search list and the full list are one list object for the row's columns)."""
    filters = view._filters._all_filters[column]
    if not any(type(f) is filter_class for f in filters):
        filters.append(filter_class(column, view.datamodel))
    view._filters._search_filters[column] = filters
    return _index(filters, (filter_class,), column)


def _arg(index: int, column: str) -> str:
    return f"_flt_{index}_{column}"


def _enum_choices(choices: Any) -> Callable[[], list[tuple[str, str]]]:
    if isinstance(choices, type) and issubclass(choices, enum.Enum):
        items = [(str(m.value), str(m.value)) for m in choices]
    else:
        items = [(str(v), str(label)) for v, label in choices]
    return lambda: [(v, gettext(label)) for v, label in items]


def _related_choices(view: Any, column: str) -> Callable[[], list[tuple[str, str]]]:
    model = view.datamodel.get_related_model(column)
    _option_tables.add(model.__tablename__)
    key_base = (type(view).__name__, column)

    def load() -> list[tuple[str, str]]:
        key = (*key_base, str(get_locale()), str(db.engine.url))
        now = time.monotonic()
        with _lock:
            cached = _options.get(key)
        if cached and now - cached[0] < OPTIONS_TTL_SECONDS:
            return cached[1]
        order = [model.code] if hasattr(model, "code") else []
        rows = db.session.query(model).order_by(*order, model.id).limit(MAX_OPTIONS).all()
        options = [(str(row.id), str(row)) for row in rows]
        with _lock:
            _options[key] = (now, options)
        return options

    return load


_option_tables: set[str] = set()


def forget_options() -> None:
    with _lock:
        _options.clear()


def _forget_changed_options(session: Session, flush_context) -> None:
    changed = {obj.__tablename__ for obj in list(session.new) + list(session.dirty)
               + list(session.deleted) if hasattr(obj, "__tablename__")}
    if changed & _option_tables:
        forget_options()


if not event.contains(Session, "after_flush", _forget_changed_options):
    event.listen(Session, "after_flush", _forget_changed_options)


def setup_filter_row(view: Any) -> list[RowField]:
    """The row's fields for ``view`` (once, when the view is made): every column is put in
    the view's search columns, so FAB accepts its filter args."""
    dm = view.datamodel
    if "_search_filters" not in vars(view._filters):  # FAB's class-level dict otherwise
        view._filters._search_filters = {}
    fields: list[RowField] = []
    for entry in view.filter_row:
        column, how = (entry, None) if isinstance(entry, str) else entry
        if isinstance(how, str) and how not in TEXT_MODES:
            how = CHOICES[how]
        label = view.label_columns.get(column, column)
        if column not in view._filters._all_filters:
            raise ValueError(f"filter row of {type(view).__name__}: no filters for {column}")
        if column not in view.search_columns:
            view.search_columns = [*view.search_columns, column]
        # one list for FAB's search widget and for reading the args: the indexes agree
        view._filters._search_filters[column] = view._filters._all_filters[column]
        if column in view.custom_filters:  # the view's one filter (index 0), its choices
            choices = how if callable(how) and not isinstance(how, type) else _enum_choices(how)
            fields.append(RowField(column, label, "select", (_arg(0, column),), choices))
            continue
        if dm.is_relation_many_to_one(column) or dm.is_relation_one_to_one(column):
            i = _ensure(view, column, FilterRelationOneToManyEqual)
            fields.append(RowField(column, label, "select", (_arg(i, column),),
                                   _related_choices(view, column)))
        elif dm.is_datetime(column):
            filters = view._filters._all_filters[column]
            if not any(isinstance(f, BeijingAfter) for f in filters):  # 北京时间, as searched
                filters[:] = [BeijingAfter(column, dm), BeijingBefore(column, dm)]
            start, end = _ensure(view, column, BeijingFromDay), _ensure(view, column, BeijingToDay)
            fields.append(RowField(column, label, "dates", (_arg(start, column), _arg(end, column))))
        elif dm.is_boolean(column):
            i = _ensure(view, column, FilterYesNo)
            fields.append(RowField(column, label, "select", (_arg(i, column),),
                                   _enum_choices([("1", "是"), ("0", "否")])))
        elif how is not None and not isinstance(how, str):
            i = _ensure(view, column, FilterEqual)
            fields.append(RowField(column, label, "select", (_arg(i, column),), _enum_choices(how)))
        else:
            exact = how == "eq" or column in view.exact_search_columns
            prefix = how == "prefix" or (how is None and column in view.prefix_search_columns)
            filters = view._filters._all_filters[column]
            if exact or not dm.is_string(column):
                i = _ensure(view, column, FilterEqual)
            elif prefix:
                i = _index(filters, (FilterPrefix, FilterStartsWith), column)
            else:
                i = _ensure(view, column, FilterContains)
            fields.append(RowField(column, label, "text", (_arg(i, column),)))
    return fields


def default_filter_row(view: Any) -> tuple[str, ...]:
    """A list that names no row gets one of its first search columns FAB can filter."""
    dm = view.datamodel
    usable = [c for c in (view.search_columns or [])
              if (dm.is_string(c) or dm.is_text(c) or dm.is_integer(c) or dm.is_boolean(c)
                  or dm.is_datetime(c)
                  or (dm.is_relation_many_to_one(c)
                      and dm.get_related_model(c).__tablename__ in SMALL_TABLES))]
    return tuple(usable[:6])


def kept_args(drop: Callable[[str], bool]) -> list[tuple[str, str]]:
    """The request's arguments (paging size, order ...) a form of the list sends again."""
    return [(k, v) for k, v in request.args.items(multi=True) if not drop(k)]


def render_filter_row(view: Any) -> str:
    name = type(view).__name__
    fields = []
    for f in view._filter_row_fields:
        values = [request.args.get(arg, "") for arg in f.args]
        fields.append((f, values, f.choices() if f.choices else []))
    hidden = kept_args(lambda k: k.startswith("_flt_") or k.startswith("page_"))
    template = current_app.jinja_env.get_template("appbuilder/general/widgets/filter_row.html")
    return template.render(fields=fields, hidden=hidden, request=request,
                           reset_url=url_for(f"{name}.list"), action=url_for(f"{name}.list"),
                           modelview_name=name,
                           export_url=view.export_url())


def cleaned_list_args(args: MultiDict, view_name: str) -> MultiDict | None:
    """The list's arguments without empty filters (a row submitted without its script),
    with ``goto_<View>`` (前往, counted from 1) read as FAB's ``page_<View>`` (from 0);
    None when nothing needs changing."""
    out: MultiDict = MultiDict()
    changed = False
    for key, value in args.items(multi=True):
        if key.startswith("_flt_") and not value.strip():
            changed = True
            continue
        if key == f"goto_{view_name}":
            changed = True
            try:
                number = int(value)
            except ValueError:
                continue
            out.setlist(f"page_{view_name}", [str(max(number, 1) - 1)])
            continue
        if key == f"page_{view_name}" and f"goto_{view_name}" in args:
            continue
        out.add(key, value)
    return out if changed else None
