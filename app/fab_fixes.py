"""Small, targeted corrections to Flask-AppBuilder 5.3, applied once at start-up."""
from __future__ import annotations

from flask import abort
from flask_appbuilder.models.filters import Filters
from flask_appbuilder.views import ModelView

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


def apply() -> None:
    ModelView.get_action_permission_name = _action_permission_name
    Filters.add_filter_index = _add_filter_index
    Filters._get_filters = _cached_get_filters
