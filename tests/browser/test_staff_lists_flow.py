"""A staff user filters 专家列表 through the always-visible filter row (所在市州 + 状态), reads
共 N 条, changes the page size, uses 前往 and clicks 重置 (issue 13, "Lists")."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.browser


def staff_login(page, live_server) -> None:
    page.goto(f"{live_server}/login/")
    page.click("text=管理人员")
    page.fill("#username", "testadmin")
    page.fill("#password", STAFF_PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)


def sql_count(app, prefecture: str | None = None, status: str | None = None) -> int:
    from app.extensions import db
    from app.models import Expert, Prefecture

    with app.app_context():
        query = db.session.query(Expert)
        if prefecture:
            query = query.join(Expert.prefecture).filter(Prefecture.name == prefecture)
        if status:
            query = query.filter(Expert.status == status)
        count = query.count()
        db.session.remove()
    return count


def shown_total(page) -> int:
    text = page.locator(".el-pagination__total").inner_text()
    return int(re.search(r"共\s*(\d+)\s*条", text).group(1))


def test_staff_filters_the_expert_list_pages_and_resets(page, live_server, app, make_expert):
    from app.models import ExpertStatus

    # The library's experts were imported (2024 batches) before anyone filters them: a
    # person never types two dozen experts to look for them, so they are made directly.
    for i in range(13):
        make_expert(f"喀什列表{i}", prefecture="喀什地区", status=ExpertStatus.ADMITTED)
    for i in range(3):
        make_expert(f"喀什待审{i}", prefecture="喀什地区", status=ExpertStatus.PENDING)
        make_expert(f"哈密列表{i}", prefecture="哈密市", status=ExpertStatus.ADMITTED)
    admitted = ExpertStatus.ADMITTED.value

    staff_login(page, live_server)
    page.goto(f"{live_server}/expertadminview/list/")
    row = page.locator("form.el-filter-row")
    expect(row).to_be_visible()  # not folded away like FAB's search
    for label in ("姓名", "身份证号", "所在市州", "从事专业类别", "状态", "入库批次"):
        expect(row.locator("label.el-filter-label", has_text=label).first).to_be_visible()
    assert shown_total(page) == sql_count(app)

    page.select_option("#fr-prefecture", label="喀什地区")
    page.select_option("#fr-status", label=admitted)
    row.locator("button:has-text('查询')").click()
    page.wait_for_url("**_flt_0_prefecture=**")
    # only what was chosen is sent: the empty boxes are no filter
    assert "_flt_0_name" not in page.url and "_flt_0_id_number" not in page.url
    expected = sql_count(app, "喀什地区", admitted)
    assert expected >= 13
    assert shown_total(page) == expected
    # the choices stay after 查询
    assert page.locator("#fr-prefecture option:checked").inner_text() == "喀什地区"
    assert page.locator("#fr-status option:checked").inner_text() == admitted
    rows = page.locator(".table-responsive table tr:has(td)")
    for text in rows.all_inner_texts():
        assert "喀什地区" in text and admitted in text

    # 10 条/页, then 前往 page 2
    page.select_option("select.el-page-size", "10")
    page.wait_for_url("**psize_ExpertAdminView=10**")
    assert "_flt_0_prefecture" in page.url
    assert page.locator(".table-responsive table tr:has(td)").count() == 10
    assert shown_total(page) == expected
    page.fill("input.el-goto", "2")
    page.press("input.el-goto", "Enter")
    page.wait_for_url("**page_ExpertAdminView=1**")
    assert "_flt_0_prefecture" in page.url and "psize_ExpertAdminView=10" in page.url
    expect(page.locator(".el-pager li.active")).to_have_text("2")
    assert page.locator(".table-responsive table tr:has(td)").count() == min(10, expected - 10)
    assert page.input_value("input.el-goto") == "2"
    shot(page, "staff-lists-01-filtered-page-2")

    row.locator("a:has-text('重置')").click()
    page.wait_for_url(f"{live_server}/expertadminview/list/")
    assert "_flt_" not in page.url
    assert shown_total(page) == sql_count(app)
    assert page.locator("#fr-prefecture option:checked").inner_text() == "全部"
    shot(page, "staff-lists-02-reset")
