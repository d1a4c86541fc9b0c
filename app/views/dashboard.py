"""首页 (统计分析) for staff: ECharts bar charts of the registry and the training rounds,
each with its table and 导出; the 待办 cards; and the 待办 badges of the menu.

The badges are a Jinja global (``todo_badges``) that the menu template calls: computed once
per request (kept on ``g``), for staff only, and only when a page draws the menu; the 首页's
cards read the same counts, so a staff page costs one statement for them.
"""
from __future__ import annotations

import datetime as dt
import io
from typing import Any
from urllib.parse import urlencode

from flask import current_app, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import get_locale, gettext
from flask_login import current_user

from app.extensions import db
from app.fab_fixes import db_int
from app.models import ChangeStatus, PaymentStatus, beijing_today, local_time, utcnow
from app.security import user_is_expert
from app.services import jobs, statistics, todo
from app.services.errors import NotFound
from app.services.export import xlsx
from app.views.base import add_menu_view

MENU_NAME = "统计分析"


def _view_named(class_name: str) -> Any:
    for view in _appbuilder().baseviews:
        if type(view).__name__ == class_name:
            return view
    return None


def _appbuilder() -> Any:
    return current_app.appbuilder


def _equal_filter_url(class_name: str, column: str, value: str) -> str | None:
    """The view's list with FAB's "equal to" filter on ``column`` (its ``_flt_<i>_<col>``
    index looked up in the live view: the app changes the filter lists)."""
    view = _view_named(class_name)
    if view is None:
        return None
    for i, flt in enumerate(view._filters.get_search_filters().get(column) or []):
        if flt.arg_name == "eq":
            return url_for(f"{class_name}.list") + "?" + urlencode({f"_flt_{i}_{column}": value})
    return url_for(f"{class_name}.list")


def todo_link(key: str) -> str | None:
    """Where a 待办 card and its badge lead: the list showing exactly the counted rows."""
    if key == "applications":
        return url_for("ReviewQueueView.list")  # the queue lists 待审核 only
    if key == "transfers":
        return _equal_filter_url("TransferRequestAdminView", "status", ChangeStatus.PENDING.value)
    if key == "profile_changes":
        return _equal_filter_url("ProfileChangeAdminView", "status", ChangeStatus.PENDING.value)
    if key == "grading":
        return url_for("GradingView.index")
    if key == "payments":
        return _equal_filter_url("PaymentOrderAdminView", "status", PaymentStatus.UNPAID.value)
    return None


def _staff_signed_in() -> bool:
    return current_user.is_authenticated and not user_is_expert(current_user)


def _shown(count: int) -> str:
    return f"{todo.CAP}+" if count > todo.CAP else str(count)


def todo_items() -> list[dict[str, Any]]:
    """The 待办 this user may act on, with counts (one statement, once per request)."""
    if "todo_items" in g:
        return g.todo_items
    items: list[dict[str, Any]] = []
    if _staff_signed_in():
        sm = _appbuilder().sm
        kinds = todo.visible_kinds(sm.has_access)
        counts = todo.todo_counts(db.session, kinds)
        items = [{"key": k.key, "label": k.label, "menu_item": k.menu_item,
                  "count": counts.get(k.key, 0), "shown": _shown(counts.get(k.key, 0)),
                  "url": todo_link(k.key)} for k in kinds]
    g.todo_items = items
    return items


def todo_badges() -> dict[str, str]:
    """Menu item or category name → 待办 count, for the menu template (staff only)."""
    if not _staff_signed_in():
        return {}
    items = todo_items()
    counts = {i["menu_item"]: i["count"] for i in items}
    badges = {name: _shown(n) for name, n in counts.items() if n}
    for category in _appbuilder().menu.get_list():
        total = sum(counts.get(child.name, 0) for child in category.childs or [] if child)
        if total:
            badges[category.name] = _shown(total)
    return badges


def _filters() -> statistics.Filters:
    batch = (request.args.get("batch") or "").strip()[:40] or None
    round_id = db_int(request.args.get("round"))
    return statistics.Filters(admission_batch=batch,
                              round_id=round_id if round_id and round_id > 0 else None)


def _translated(chart: statistics.Chart) -> statistics.Chart:
    """Titles, headers and the fixed labels (statuses, bands) in the chosen language;
    names from the reference lists (市州, 专业, 职称, rounds) are shown as stored."""
    fixed = {"全部申请", "已提交审核", statistics.NOT_GIVEN} | {
        label for label, _, _ in statistics.AGE_BANDS}
    rows = []
    for row in chart.rows:
        label = row[0]
        if chart.key in ("status", "funnel", "age") or label in fixed:
            label = gettext(label)
        rows.append([label, *row[1:]])
    return statistics.Chart(chart.key, gettext(chart.title), [gettext(c) for c in chart.columns],
                            rows)


def chart_data(chart: statistics.Chart) -> dict[str, Any]:
    """What dashboard.js draws: categories and one series per value column."""
    series = []
    for i, name in enumerate(chart.columns[1:], start=1):
        money = chart.key == "rounds" and i == len(chart.columns) - 1
        series.append({"name": name, "money": money,
                       "data": [float(r[i]) if money else int(r[i]) for r in chart.rows]})
    return {"categories": [str(r[0]) for r in chart.rows], "series": series}


def _cell(value: Any) -> Any:
    return f"{value:.2f}" if hasattr(value, "quantize") else value


class DashboardView(BaseView):
    """首页 · 统计分析: 审核人员 and 管理员, and 审计员 read-only (the page changes nothing)."""

    route_base = "/dashboard"
    class_permission_name = "Dashboard"
    audience = "staff_and_audit"
    base_permissions = ["can_index", "can_export"]
    default_view = "index"

    def _snapshot(self) -> tuple[Any, bool]:
        """The newest statistics snapshot and whether a refresh is queued (one query). No
        snapshot yet (a new install, a test database): counted once, here, and kept."""
        snapshot, queued = statistics.latest(db.session)
        if snapshot is None:
            snapshot = statistics.compute(db.session, beijing_today())
        return snapshot, queued

    def _charts(self, data: dict[str, Any],
                filters: statistics.Filters) -> list[statistics.Chart]:
        return [_translated(c) for c in statistics.charts_from(data, filters)]

    @expose("/")
    @has_access
    def index(self):
        filters = _filters()
        snapshot, queued = self._snapshot()
        data = statistics.loads(snapshot)
        charts = self._charts(data, filters)
        batches, rounds = statistics.filter_choices(data)
        query = {k: v for k, v in (("batch", filters.admission_batch or ""),
                                   ("round", filters.round_id or "")) if v}
        locale = str(get_locale() or "zh")
        return self.render_template(
            "dashboard/index.html", title=gettext("首页"), charts=charts, chart_data=chart_data,
            cell=_cell, counted_at=local_time(snapshot.computed_at), refreshing=queued,
            may_refresh=_appbuilder().sm.has_access("can_refresh", RefreshView.class_permission_name),
            refresh_minutes=max(1, round(current_app.config["STATISTICS_REFRESH_SECONDS"] / 60)),
            todos=todo_items(), filters=filters, batches=batches, rounds=rounds, query=query,
            echarts_locale="EN" if locale.startswith("en") else "ZH")

    @expose("/export/<key>")
    @has_access
    def export(self, key: str):
        charts = {c.key: c for c in self._charts(statistics.loads(self._snapshot()[0]),
                                                 _filters())}
        chart = charts.get(key)
        if chart is None:
            raise NotFound()
        data = xlsx([(chart.title[:31], chart.columns, [[_cell(v) for v in r] for r in chart.rows])])
        name = f"{gettext('统计分析')}-{chart.title}-{beijing_today():%Y%m%d}.xlsx"
        return send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


class RefreshView(BaseView):
    """「刷新统计」 on the 首页: queue the snapshot's refresh (审核人员 and 管理员; the 审计员
    only reads). One queued refresh at a time: a second click is told it is under way."""

    route_base = "/dashboard/refresh"
    class_permission_name = "DashboardRefresh"
    audience = "staff"
    base_permissions = ["can_refresh"]

    @expose("/", methods=["POST"])
    @has_access
    def refresh(self):
        cfg = current_app.config
        row = statistics.request_refresh(
            db.session, user_id=current_user.id, now=utcnow(),
            timeout=dt.timedelta(seconds=cfg["STATISTICS_REFRESH_TIMEOUT"]))
        if row is None:
            flash(gettext("统计正在刷新，请稍后查看"), "info")
        else:
            jobs.send_after_commit(db.session, statistics.TASK_REFRESH, row.id,
                                   task_id=f"statistics-refresh-{row.id}",
                                   on_failure=lambda message: flash(message, "danger"))
            flash(gettext("已开始刷新统计，完成后统计时间会更新"), "success")
        query = {k: v for k, v in (("batch", (request.form.get("batch") or "").strip()[:40]),
                                   ("round", db_int(request.form.get("round")) or "")) if v}
        return redirect(url_for("DashboardView.index", **query))


def register(appbuilder) -> None:
    add_menu_view(appbuilder, DashboardView, MENU_NAME, icon="fa-bar-chart")
    appbuilder.add_view_no_menu(RefreshView)
    current_app.jinja_env.globals["todo_badges"] = todo_badges  # the menu template calls it
