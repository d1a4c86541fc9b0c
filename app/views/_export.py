"""导出 Excel on every staff list: one route for all (``/<view>/export/``), inherited by
StaffModelView.

The file holds the rows the list shows with its active filter (FAB's ``_flt_`` arguments,
the view's base filters and its order), the columns of ``export_columns`` (default: the
list's) under their Chinese labels, each value as the list shows it (the view's
formatters; 北京时间 without microseconds; 元 for the amounts kept in 分; 是/否), personal
data masked whatever the column (身份证号, phone numbers, bank accounts), text as text.
More rows than EXPORT_SYNC_MAX_ROWS become an 导出任务 built on the worker (the row source
registered below rebuilds the same query from the stored query string)."""
from __future__ import annotations

import datetime as dt
import enum
import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from flask import current_app, flash, redirect, request, send_file, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_filter_args, get_order_args
from flask_babel import gettext
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm import Session

from app.extensions import db
from app.masking import mask_bank_account, mask_id_number, mask_phone
from app.models import ExportJob, local_time
from app.services import audit, export_jobs
from app.services.audit import Action
from app.services.audit_hooks import current_actor
from app.services.export import EXPORT_MIME, xlsx

# Columns holding personal data, by their last name part: exported masked, always.
MASKS = {
    "id_number": mask_id_number,
    "phone": mask_phone,
    "backup_phone": mask_phone,
    "mobile": mask_phone,
    "account_no": mask_bank_account,
}
CHUNK = 1000  # rows loaded per query (any eager loading works with a plain LIMIT/OFFSET)


def _masked(item: Any, col: str) -> Any:
    """The masked value of a personal-data column: the model's ``<col>_masked`` property
    where it has one, else the masking helper on the raw value."""
    head, _, leaf = col.rpartition(".")
    owner = item
    for part in head.split(".") if head else []:
        owner = getattr(owner, part, None)
    if owner is None:
        return ""
    if hasattr(owner, f"{leaf}_masked"):
        return getattr(owner, f"{leaf}_masked")
    return MASKS[leaf](getattr(owner, leaf, None))


def cell_value(value: Any) -> Any:
    """A value as the list shows it, for a spreadsheet cell (numbers stay numbers)."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return value.striptags()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return local_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple | set):
        return "、".join(str(cell_value(v)) for v in value)
    return str(value)


def _yuan(fen: Any) -> Any:
    return f"{fen / 100:.2f}" if isinstance(fen, int | float) and not isinstance(fen, bool) else fen


class ExportMixin:
    """``/export/`` for a ModelView; the permission ``can_export`` goes with ``can_list``."""

    # the columns of the file (model attributes or properties); None: the list's columns
    export_columns: Sequence[str] | None = None
    # formatters for the file only, over the list's (e.g. 出生年月 as year and month)
    export_formatters: dict[str, Any] = {}
    # loader options for the file's columns the list does not show (one query per relation)
    export_loads: tuple = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        perms = self.base_permissions
        if perms is not None and "can_list" in perms and "can_export" not in perms:
            self.base_permissions = [*perms, "can_export"]
        super().__init__(*args, **kwargs)

    # --- what the file holds

    def export_column_names(self) -> list[str]:
        return list(self.export_columns or self.list_columns)

    def export_header(self) -> list[str]:
        header = []
        for col in self.export_column_names():
            label = str(self.label_columns.get(col, col))
            if col.endswith("_fen"):  # the amounts are written in 元 (see export_row)
                label = label.replace(gettext("（分）"), gettext("（元）"))
            header.append(label)
        return header

    def export_row(self, item: Any) -> list[Any]:
        row = []
        formatters = {**(self.formatters_columns or {}), **self.export_formatters}
        for col in self.export_column_names():
            leaf = col.rpartition(".")[2]
            if leaf in MASKS:
                value = _masked(item, col)
            else:
                value = self.datamodel._get_attr_value(item, col)
                if col.endswith("_fen"):
                    value = _yuan(value)
                elif col in formatters:
                    value = formatters[col](value)
            row.append(cell_value(value))
        return row

    def export_title(self) -> str:
        return str(self.list_title or self.datamodel.model_name)

    def export_query(self, session: Session):
        """The list's query as the request's arguments filter and order it: (query, count)."""
        get_filter_args(self._filters)
        joined = self._filters.get_joined_filters(self._base_filters)
        order_column, order_direction = get_order_args().get(type(self).__name__, ("", ""))
        if order_column not in (self.order_columns or []):
            order_column, order_direction = self.base_order or ("", "")
        query = self.datamodel.apply_all(session.query(self.datamodel.obj), joined,
                                         order_column, order_direction)
        pk = self.datamodel.get_pk()
        if pk is not None:
            query = query.order_by(pk)  # a tie-breaker: the chunks do not overlap
        if self.export_loads:
            query = query.options(*self.export_loads)
        count = self.datamodel.query_count(session.query(self.datamodel.obj), joined)
        return query, count

    def export_rows(self, query, limit: int) -> Iterator[list[Any]]:
        for start in range(0, limit, CHUNK):
            chunk = query.offset(start).limit(min(CHUNK, limit - start)).all()
            for item in chunk:
                yield self.export_row(item)
            if len(chunk) < CHUNK:
                return

    # --- the button, the route

    def export_url(self) -> str | None:
        """The 导出 Excel button's address (the list's filter carried), for those who may."""
        if request.endpoint != f"{type(self).__name__}.list" or \
                not self.appbuilder.sm.has_access("can_export", self.class_permission_name):
            return None
        qs = request.query_string.decode()
        return url_for(f"{type(self).__name__}.export") + (f"?{qs}" if qs else "")

    @expose("/export/")
    @has_access
    def export(self):
        """导出 Excel: the list as filtered on screen (a background job when it is big)."""
        cfg = current_app.config
        query, count = self.export_query(db.session)
        qs = request.query_string.decode()
        title = self.export_title()
        audit.record(db.session, Action.EXPORT, actor=current_actor(), object_type=title,
                     detail=f"导出 Excel，{count} 条，筛选条件：{qs or '无'}")
        if count > cfg["EXPORT_SYNC_MAX_ROWS"]:
            job = export_jobs.queue_export(
                db.session, user_id=current_user.id, view_name=type(self).__name__, title=title,
                query_string=qs, total=min(count, cfg["EXPORT_MAX_ROWS"]),
                on_failure=lambda message: flash(message, "danger"))
            flash(gettext("共 %(count)s 条，已转为后台导出任务，完成后可在此下载", count=count),
                  "info")
            return redirect(url_for("ExportJobView.show", job_id=job.id))
        data = xlsx([(title[:31], self.export_header(),
                      self.export_rows(query, cfg["EXPORT_MAX_ROWS"]))])
        return send_xlsx(data, title)


def send_xlsx(data: bytes | io.BufferedIOBase, title: str):
    return send_file(io.BytesIO(data) if isinstance(data, bytes) else data,
                     mimetype=EXPORT_MIME, as_attachment=True, download_name=f"{title}.xlsx")


def _export_view(name: str) -> Any:
    for view in current_app.appbuilder.baseviews:
        if type(view).__name__ == name and isinstance(view, ExportMixin):
            return view
    raise LookupError(name)


@contextmanager
def _job_rows(session: Session, job: ExportJob) -> Iterator[
        tuple[str, Sequence[str], int, Iterable[Sequence[Any]]]]:
    """A job's rows: the list's query rebuilt from the stored query string, in a request
    context of that address (FAB reads filters and order from the request)."""
    view = _export_view(job.view_name)
    qs = job.query_string or ""
    with current_app.test_request_context(f"/{job.view_name.lower()}/export/?{qs}"):
        query, count = view.export_query(session)
        limit = min(count, current_app.config["EXPORT_MAX_ROWS"])
        yield job.title[:31], view.export_header(), limit, view.export_rows(query, limit)


export_jobs.set_row_source(_job_rows)
