"""Small, targeted corrections to Flask-AppBuilder 5.3, applied once at start-up."""
from __future__ import annotations

import re
import sys

from flask import abort, current_app, flash, request
from flask_appbuilder import baseviews, expose, urltools
from flask_appbuilder import exceptions as fab_exceptions
from flask_appbuilder import views as fab_views
from flask_appbuilder.api import BaseApi
from flask_appbuilder.baseviews import BaseCRUDView
from flask_appbuilder.menu import Menu
from flask_appbuilder.models.filters import Filters
from flask_appbuilder.models.sqla import filters as sqla_filters
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.security.schemas import login_post
from flask_appbuilder.views import ModelView
from flask_babel import gettext
from sqlalchemy.exc import SQLAlchemyError

from app.errors import error_response, is_outage, rollback
from app.models import MAX_DB_INT  # noqa: F401 (also imported from here by older callers)

# Page numbers and sizes come from links of our own; anything else is ignored. A page number
# this small keeps page × size far inside a 64-bit OFFSET.
MAX_PAGE = 10**7
_SMALL_INT = re.compile(r"[0-9]{1,9}\Z")
_DB_INT = re.compile(r"-?[0-9]{1,19}\Z")

_original_action_permission_name = ModelView.get_action_permission_name


def _action_permission_name(self, name: str) -> str:
    # FAB fails with a 500 (AttributeError) on /action/<unknown>/<pk>; answer 404.
    if name not in self.actions:
        abort(404)
    return _original_action_permission_name(self, name)




def _add_filter_index(self, column_name, filter_instance_index, value):
    # FAB indexes its filter list with the number from the URL unchecked: a filter
    # that does not exist (e.g. "starts with" on an exact-only column) is ignored,
    # instead of a 500.
    filters = self._all_filters.get(column_name, [])
    if 0 <= filter_instance_index < len(filters):
        self._add_filter(filters[filter_instance_index], value)


_original_get_filters = Filters._get_filters
_filter_cache: dict[tuple, dict] = {}


def _cached_get_filters(self, cols):
    # FAB builds every possible filter of every column each time a Filters object is made
    # (about 7 ms on the expert page with its ten tabs). The filters are stateless per
    # model interface and column, so they are built once; callers get their own dict.
    key = (id(self.datamodel), self.filter_converter, tuple(cols))
    built = _filter_cache.get(key)
    if built is None:
        built = _original_get_filters(self, cols)
        _filter_cache[key] = built
    return {col: list(filters) for col, filters in built.items()}


def db_int(value) -> int | None:
    """``value`` as an int a 64-bit integer column can hold, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -MAX_DB_INT - 1 <= value <= MAX_DB_INT else None
    text = str(value).strip() if value is not None else ""
    if not _DB_INT.match(text):
        return None
    number = int(text)
    return number if -MAX_DB_INT - 1 <= number <= MAX_DB_INT else None


def _small_ints(prefix: str) -> dict[str, int]:
    # FAB's int() of page_<View> / psize_<View> raised on "abc" or "1e9" (a 500): such a
    # value, or one beyond MAX_PAGE, is ignored as if it was not sent.
    found = {}
    for arg, value in request.args.items():
        if arg.startswith(prefix) and _SMALL_INT.match(value or "") and int(value) <= MAX_PAGE:
            found[arg[len(prefix):]] = int(value)
    return found


def _page_args() -> dict[str, int]:
    return _small_ints("page_")


def _page_size_args() -> dict[str, int]:
    cap = current_app.config.get("FAB_API_MAX_PAGE_SIZE") or 100
    return {view: size for view, size in _small_ints("psize_").items() if 0 < size <= cap}


def _order_args() -> dict[str, tuple[str, str]]:
    # The column is checked against the view's own order_columns in _get_list_widget: FAB
    # sorted by any attribute named in _oc_ (password, a missing one: a 500).
    orders = {}
    for arg, column in request.args.items():
        if arg.startswith("_oc_"):
            view = arg[len("_oc_"):]
            direction = request.args.get("_od_" + view)
            if direction in ("asc", "desc"):
                orders[view] = (column, direction)
    return orders


_original_get_list_widget = BaseCRUDView._get_list_widget


def _checked_get_list_widget(self, filters, actions=None, order_column="", order_direction="",
                             page=None, page_size=None, widgets=None, **kwargs):
    if order_column not in (self.order_columns or []) or order_direction not in ("asc", "desc"):
        order_column, order_direction = "", ""
    return _original_get_list_widget(self, filters, actions=actions, order_column=order_column,
                                     order_direction=order_direction, page=page,
                                     page_size=page_size, widgets=widgets, **kwargs)


_original_set_value_to_type = sqla_filters.set_value_to_type


def _set_value_to_type(datamodel, column_name, value):
    # An id beyond 64 bits (a 20-digit /show/<pk>, a filter value) is no row, not a 500.
    if datamodel.is_integer(column_name):
        return db_int(value)
    return _original_set_value_to_type(datamodel, column_name, value)


def _get_related_obj(self, col_name, value):
    # Relation filters look the related row up by the id from the URL: letters, or an id
    # beyond 64 bits, find nothing instead of failing in the driver.
    rel_model = self.get_related_model(col_name)
    pk_columns = rel_model.__mapper__.primary_key
    if len(pk_columns) == 1 and pk_columns[0].type.python_type is int:
        value = db_int(value)
        if value is None:
            return None
    return self.session.get(rel_model, value)


SAVE_FAILED = "保存失败，数据未写入，请稍后重试"


def _saved(self, write, item) -> bool:
    """``write(item)`` (the datamodel's add or edit); on a database error, rolled back and
    said in Chinese, so the caller re-renders the form instead of claiming success."""
    try:
        write(item)
    except (SQLAlchemyError, fab_exceptions.DatabaseException):
        rollback()  # app.errors: and the request's own commit does not try again
        flash(gettext(SAVE_FAILED), "danger")
        return False
    return True


def _add(self):
    """FAB's _add, except that a failed save keeps the form: FAB flashed the exception's
    text (SQL and all) and redirected as if saved. Now the form comes back with what was
    typed and a plain Chinese message, and post_add does not run."""
    is_valid_form = True
    urltools.get_filter_args(self._filters, disallow_if_not_in_search=False)
    exclude_cols = self._filters.get_relation_cols()
    form = self.add_form.refresh()
    if request.method == "POST":
        self._fill_form_exclude_cols(exclude_cols, form)
        if form.validate():
            self.process_form(form, True)
            item = self.datamodel.obj()
            try:
                form.populate_obj(item)
                self.pre_add(item)
            except Exception as e:
                flash(str(e), "danger")
                return None
            if not _saved(self, self.datamodel.add, item):
                return self._get_add_widget(form=form, exclude_cols=exclude_cols)
            self.post_add(item)
            flash(self.add_row_message, "success")
            return None
        is_valid_form = False
    if is_valid_form:
        self.update_redirect()
    return self._get_add_widget(form=form, exclude_cols=exclude_cols)


def _edit(self, pk):
    """FAB's _edit with the same correction as ``_add``: a failed save re-renders the form
    with the typed values and a Chinese message instead of redirecting."""
    is_valid_form = True
    pages = _page_args()
    page_sizes = _page_size_args()
    orders = _order_args()
    urltools.get_filter_args(self._filters, disallow_if_not_in_search=False)
    exclude_cols = self._filters.get_relation_cols()
    item = self.datamodel.get(pk, self._base_filters)
    if not item:
        abort(404)
    pk = self.datamodel.get_pk_value(item)
    if request.method == "POST":
        form = self.edit_form.refresh(request.form)
        self._fill_form_exclude_cols(exclude_cols, form)
        form._id = pk
        if form.validate():
            self.process_form(form, False)
            try:
                form.populate_obj(item)
                self.pre_update(item)
            except Exception as e:
                flash(str(e), "danger")
                return None
            if not _saved(self, self.datamodel.edit, item):
                # the rolled-back row is reloaded for the page around the form
                item = self.datamodel.get(pk, self._base_filters)
                if not item:
                    abort(404)
            else:
                self.post_update(item)
                flash(self.edit_row_message, "success")
                return None
        else:
            is_valid_form = False
    else:
        form = self.edit_form.refresh(obj=item)
        self.prefill_form(form, pk)
    widgets = self._get_edit_widget(form=form, exclude_cols=exclude_cols)
    widgets = self._get_related_views_widgets(item, filters={}, orders=orders, pages=pages,
                                              page_sizes=page_sizes, widgets=widgets)
    if is_valid_form:
        self.update_redirect()
    return widgets


@has_access
def download(self, filename):
    # FAB's download joined the name from the URL to UPLOAD_FOLDER and sent that path to
    # anyone with can_download (an IndexError, a 500, for a name it did not write). Our
    # files are served only through the ownership-checked /files/<id>.
    abort(404)


def _api_response_500(self, message: str | None = None):
    # FAB's @safe answers every error of an API method with 500 "Fatal error", in English:
    # the app's answers instead (a database that cannot be reached is a Chinese 503).
    rollback()
    return error_response(503 if is_outage(sys.exc_info()[1]) else 500, json=True)


# The menu category of the account tasks (FAB's "Security", renamed in app/security.py, with
# 审计日志 and 锁定账号): last in the navbar, as in the admin panels staff know, although FAB
# registers it before every other view.
LAST_MENU_CATEGORY = "系统管理"


def _menu_list(self) -> list:
    return sorted(self.menu, key=lambda item: item.name == LAST_MENU_CATEGORY)  # stable


def apply() -> None:
    Menu.get_list = _menu_list
    BaseApi.response_500 = _api_response_500
    # The API login reads payload["provider"] unchecked: a body without it was a 500
    # (KeyError); with the field required it is a 400 like any other missing field.
    login_post.fields["provider"].required = True
    ModelView.download = expose("/download/<string:filename>")(download)
    ModelView.get_action_permission_name = _action_permission_name
    Filters.add_filter_index = _add_filter_index
    Filters._get_filters = _cached_get_filters
    # FAB's modules imported these helpers by name: replace them where they are used.
    for module in (urltools, baseviews, fab_views):
        module.get_page_args = _page_args
        module.get_page_size_args = _page_size_args
        module.get_order_args = _order_args
    BaseCRUDView._get_list_widget = _checked_get_list_widget
    sqla_filters.set_value_to_type = _set_value_to_type
    SQLAInterface.get_related_obj = _get_related_obj
    BaseCRUDView._add = _add
    BaseCRUDView._edit = _edit
