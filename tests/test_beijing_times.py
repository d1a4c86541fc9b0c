"""Item 16 of issue 11, beyond the round form: every staff list, detail page, form and search
shows and takes a UTC ``DateTime`` column in 北京时间, through ``BeijingTimesMixin``. FAB's own
date-time search field calls a picker its scripts do not have (a script error) and compares
the typed Beijing time with the stored UTC value; its list shows UTC with microseconds."""
import datetime as dt
import re

from flask_appbuilder import ModelView
from sqlalchemy import DateTime

from tests.conftest import login_staff, page_text

# FAB's own security screens (users, roles) keep FAB's widgets: they are restyled in the
# 管理端 issue, not here.
FAB_OWN = ("flask_appbuilder.",)


def _datetime_columns(view) -> set[str]:
    table = view.datamodel.obj.__table__
    return {c.name for c in table.columns if isinstance(c.type, DateTime)}


def test_item16_every_staff_view_shows_its_times_in_beijing_time(app):
    missing = {}
    for view in app.appbuilder.baseviews:
        if not isinstance(view, ModelView) or type(view).__module__.startswith(FAB_OWN):
            continue
        shown = set(view.list_columns) | set(view.show_columns or []) | set(
            view.search_columns or []) | set(view.add_columns or []) | set(view.edit_columns or [])
        needed = _datetime_columns(view) & shown
        left = needed - set(getattr(view, "beijing_time_columns", ()))
        if left:
            missing[type(view).__name__] = sorted(left)
    assert not missing, f"UTC times shown without BeijingTimesMixin: {missing}"


def test_item16_audit_log_lists_and_searches_in_beijing_time(app):
    from app.extensions import db
    from app.services import audit
    from app.services.audit import Action, Actor

    when = dt.datetime(2026, 3, 1, 1, 2, 3, 456789)  # UTC; 09:02:03 in Beijing
    with app.app_context():
        event = audit.record(db.session, Action.LOGIN, actor=Actor(None, "北京时间测试", "10.0.0.9"),
                             object_type="用户", object_id="bjtime")
        event.occurred_at = when  # before its insert: the table is append-only
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    login_staff(client, "testadmin")
    text = page_text(client.get("/auditeventview/list/?_flt_0_object_id=bjtime"))
    assert "2026-03-01 09:02:03" in text
    assert "456789" not in text and "时间（北京时间）" in text

    search = client.get("/auditeventview/list/").get_data(True)
    assert "datetimepicker" not in search
    # 晚于 09:02 Beijing finds it; 晚于 09:03 Beijing does not (UTC 01:03 would be 晚于 it too
    # if the typed time were read as UTC)
    found = page_text(client.get(
        "/auditeventview/list/?_flt_0_object_id=bjtime&_flt_0_occurred_at=2026-03-01T09:02"))
    assert "2026-03-01 09:02:03" in found
    gone = page_text(client.get(
        "/auditeventview/list/?_flt_0_object_id=bjtime&_flt_0_occurred_at=2026-03-01T09:03"))
    assert "2026-03-01 09:02:03" not in gone


def test_item16_time_search_fields_are_the_beijing_picker(app):
    client = app.test_client()
    login_staff(client, "testadmin")
    for url in ("/reviewqueueview/list/", "/transferrequestadminview/list/",
                "/profilechangeadminview/list/", "/storedfileadminview/list/"):
        html = client.get(url).get_data(True)
        assert client.get(url).status_code == 200, url
        assert not re.search(r'data-provide="datetimepicker"|class="[^"]*datetimepicker', html), url
