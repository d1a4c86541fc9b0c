"""导出 Excel in a real browser (issue 13): staff filter a list with FAB's search, click 导出
Excel and get exactly the filtered rows; a big export becomes an 导出任务 whose progress bar
fills and whose download link gives the file."""
import io
import re

import pytest
from openpyxl import load_workbook

from tests.browser.conftest import shot
from tests.browser.test_menus_flow import menu_links
from tests.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.browser


def _names(path) -> list[str]:
    with open(path, "rb") as fh:
        ws = load_workbook(io.BytesIO(fh.read())).active
    rows = list(ws.iter_rows(values_only=True))
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref
    return sorted(dict(zip(rows[0], r))["姓名"] for r in rows[1:])


def test_filter_export_and_background_export(page, live_server, app, make_expert):
    for name in ("浏览器导出甲", "浏览器导出乙", "浏览器导出丙"):
        make_expert(name)
    make_expert("另一位专家")
    page.goto(f"{live_server}/login/?login_kind=staff")
    page.fill("#username", "testreviewer")
    page.fill("#password", STAFF_PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)

    # 专家列表: 添加筛选条件 → 姓名 开头是 浏览器导出 → 搜索
    page.goto(f"{live_server}/expertadminview/list/")
    page.click("#accordion1 a.accordion-toggle")
    page.click("button:has-text('添加筛选条件')")
    page.click("#filter_form a.filter[name='name']")
    page.locator("#filter_form table.filters input[type='text']").last.fill("浏览器导出")
    page.click("#filter_form button[type='submit']")
    page.wait_for_url("**_flt_*")
    assert page.locator("td:has-text('浏览器导出')").count() == 3
    assert page.locator("td:has-text('另一位专家')").count() == 0
    shot(page, "h3-01-filtered-list")
    with page.expect_download() as info:
        page.click("#export-excel")
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    assert _names(download.path()) == ["浏览器导出丙", "浏览器导出乙", "浏览器导出甲"]

    # the same export over EXPORT_SYNC_MAX_ROWS rows: a background job with progress
    saved = {k: app.config[k] for k in ("EXPORT_SYNC_MAX_ROWS", "EXPORT_JOB_INLINE")}
    app.config.update(EXPORT_SYNC_MAX_ROWS=1, EXPORT_JOB_INLINE=True)
    try:
        page.click("#export-excel")
        page.wait_for_url("**/exports/job/*")
        page.wait_for_function("document.getElementById('export-bar').textContent === '100%'")
    finally:
        app.config.update(saved)
    assert page.inner_text("#export-status") == "已完成"
    assert page.inner_text("#export-done") == "3"
    assert page.locator("#export-download").is_visible()
    shot(page, "h3-02-export-job")
    with page.expect_download() as info:
        page.click("#export-download")
    assert _names(info.value.path()) == ["浏览器导出丙", "浏览器导出乙", "浏览器导出甲"]
    # 系统管理 → 导出任务 lists it
    page.click("#export-back")
    page.wait_for_url("**/exports/")
    assert page.locator("#export-jobs td:has-text('专家列表')").count() >= 1
    shot(page, "h3-03-export-jobs")


def test_every_list_in_the_menu_exports_what_it_shows(page, live_server, make_expert):
    """管理员 opens every list of the menu and clicks its 导出 Excel: each file has the list's
    Chinese headers, a frozen header with an autofilter, and as many rows as 共 N 条 says."""
    make_expert("菜单导出专家")
    page.goto(f"{live_server}/login/?login_kind=staff")
    page.fill("#username", "testadmin")
    page.fill("#password", STAFF_PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{live_server}/")
    hrefs = menu_links(page)
    exported = []
    for _text, href in hrefs:
        page.goto(f"{live_server}{href}")
        button = page.locator("#export-excel")
        if not button.count():
            continue
        total = int(re.search(r"共 (\d+) 条", page.inner_text(".el-pagination__total")).group(1))
        with page.expect_download() as info:
            button.click()
        with open(info.value.path(), "rb") as fh:
            ws = load_workbook(io.BytesIO(fh.read())).active
        rows = list(ws.iter_rows(values_only=True))
        headers = [h for h in page.locator("table.table thead th").all_inner_texts() if h.strip()]
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref, href
        if "auditeventview" in href:  # the log grows between the page and its export
            assert len(rows) - 1 >= total, href
        else:
            assert len(rows) - 1 == total, href
        assert set(headers) <= set(rows[0]), (href, headers, rows[0])
        exported.append(href)
    # 专家列表, 待审核申请, 异动审核, 修改记录, 缴费订单, 证书列表, 审计日志, 培训情况 and the rest
    for wanted in ("/expertadminview/", "/reviewqueueview/", "/transferrequestadminview/",
                   "/profilechangeadminview/", "/paymentorderadminview/",
                   "/certificateadminview/", "/auditeventview/", "/training/status/"):
        assert any(wanted in href for href in exported), (wanted, exported)
