"""Item 16 of issue 11 in a browser: staff open a 培训批次 through the menu and its form, typing
and picking 北京时间 in the browser's own date-and-time picker, then edit it and make it
inactive; the database holds the times in UTC without microseconds."""
import datetime as dt
import os
import re
import shutil

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _open, shot
from tests.conftest import ARTIFACTS, STAFF_PASSWORD

pytestmark = pytest.mark.browser

ZH_PAK = "/usr/lib/chromium/locales/zh-CN.pak"


@pytest.fixture(scope="module")
def zh_browser():
    """Chromium in Chinese as on the department's machines: its date-and-time picker is drawn
    in the browser's language (the page's locale is not enough); Debian ships the Chinese
    resources in chromium-l10n."""
    if not shutil.which("chromium"):
        pytest.skip("chromium 未安装：root 运行 'apt-get install chromium'")
    assert os.path.exists(ZH_PAK), "中文界面需要 chromium-l10n：root 运行 'apt-get install chromium-l10n'"
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=15_000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--lang=zh-CN"],
                                     env={**os.environ, "LANG": "zh_CN.UTF-8"})
        yield browser
        browser.close()


@pytest.fixture
def zh_page(zh_browser):
    context, page, errors = _open(zh_browser, viewport={"width": 1280, "height": 900})
    yield page
    context.close()
    assert not errors, errors


def click_segment(page, selector: str, x: int) -> None:
    """Click into the input ``x`` pixels from its left edge: a segment of the date and time."""
    box = page.locator(selector).bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + box["height"] / 2)


def open_picker(page, selector: str) -> None:
    """Click the calendar icon at the right end of the input (inside its 12 px padding), as a
    person does."""
    box = page.locator(selector).bounding_box()
    page.mouse.click(box["x"] + box["width"] - 20, box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)  # the popup draws itself


def type_like_a_person(page, selector: str, text: str) -> None:
    page.click(selector)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def round_row(page, name: str):
    return page.locator("table tr", has_text=name)


def test_item16_staff_create_and_edit_a_round_through_the_form(zh_page, live_server, app):
    page = zh_page
    name = f"2027年第一批（浏览器{os.getpid()}）"
    page.goto(f"{live_server}/login/")
    page.click("text=管理人员")
    page.fill("#username", "testadmin")
    page.fill("#password", STAFF_PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)

    page.click("a.dropdown-toggle:has-text('继续教育管理')")
    page.click(".dropdown-menu a:has-text('培训批次')")
    page.wait_for_url("**/trainingroundadminview/list/**")
    page.click("a[href*='/trainingroundadminview/add']")
    page.wait_for_url("**/trainingroundadminview/add**")
    expect(page.locator("label[for=enroll_start]")).to_contain_text("缴费开始时间（北京时间）")
    expect(page.locator("label[for=enroll_end]")).to_contain_text("缴费结束时间（北京时间）")
    assert page.locator("#active").is_checked()  # a new round is active unless unchecked

    type_like_a_person(page, "#name", name)
    type_like_a_person(page, "#admission_batches", "2024年第一批,2024年第二批")
    type_like_a_person(page, "#study_days", "45")
    type_like_a_person(page, "#fee_fen", "30000")
    type_like_a_person(page, "#makeup_fee_fen", "10000")
    # 缴费开始时间 typed digit by digit into the picker's segments: 年 月 日 时 分, seconds left out
    click_segment(page, "#enroll_start", 14)
    page.keyboard.type("202612010900")
    assert page.input_value("#enroll_start") == "2026-12-01T09:00"
    # 缴费结束时间 typed before the start by mistake: the form says so and keeps what was typed
    click_segment(page, "#enroll_end", 14)
    page.keyboard.type("20261130183015")
    assert page.input_value("#enroll_end") == "2026-11-30T18:30:15"
    shot(page, "16-round-add-typed")
    page.click("#model_form button[type=submit]:has-text('保存')")
    expect(page.locator(".alert-danger")).to_contain_text("缴费结束时间应晚于缴费开始时间")
    assert page.input_value("#name") == name
    assert page.input_value("#enroll_start") == "2026-12-01T09:00"
    assert page.input_value("#enroll_end") == "2026-11-30T18:30:15"
    shot(page, "16-round-add-error")

    # corrected in the calendar: 31 days on with the arrow key, chosen with Enter
    open_picker(page, "#enroll_end")
    # the viewport only: a full-page capture closes the popup
    page.screenshot(path=str(ARTIFACTS / "16-round-add-picker.png"))
    for _ in range(31):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert page.input_value("#enroll_end") == "2026-12-31T18:30:15"
    page.click("#model_form button[type=submit]:has-text('保存')")
    page.wait_for_url("**/trainingroundadminview/list/**")
    row = round_row(page, name)
    expect(row).to_contain_text("2026-12-01 09:00:00")
    expect(row).to_contain_text("2026-12-31 18:30:15")
    expect(row).to_contain_text("是")
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", row.inner_text())  # no microseconds
    shot(page, "16-round-list-added")

    row.locator("a[href*='/trainingroundadminview/edit/']").click()
    page.wait_for_url("**/trainingroundadminview/edit/**")
    assert page.input_value("#enroll_start") == "2026-12-01T09:00"
    assert page.input_value("#enroll_end") == "2026-12-31T18:30:15"
    # the start an hour and a half later: 时 typed over, 分 stepped up with the arrow key
    click_segment(page, "#enroll_start", 14)
    for _ in range(3):  # 年 → 月 → 日 → 时
        page.keyboard.press("ArrowRight")
    page.keyboard.type("10")
    for _ in range(30):
        page.keyboard.press("ArrowUp")
    assert page.input_value("#enroll_start") == "2026-12-01T10:30"
    page.uncheck("#active")
    shot(page, "16-round-edit")
    page.click("#model_form button[type=submit]:has-text('保存')")
    page.wait_for_url("**/trainingroundadminview/list/**")
    row = round_row(page, name)
    expect(row).to_contain_text("2026-12-01 10:30:00")
    expect(row).to_contain_text("2026-12-31 18:30:15")
    expect(row).to_contain_text("否")
    shot(page, "16-round-list-edited")

    from app.extensions import db
    from app.models import TrainingRound

    with app.app_context():
        rnd = db.session.query(TrainingRound).filter_by(name=name).one()
        # 北京时间 is UTC+8: the database holds UTC, to the second
        assert rnd.enroll_start == dt.datetime(2026, 12, 1, 2, 30, 0)
        assert rnd.enroll_end == dt.datetime(2026, 12, 31, 10, 30, 15)
        assert rnd.active is False
        assert (rnd.study_days, rnd.fee_fen, rnd.makeup_fee_fen) == (45, 30000, 10000)
        assert rnd.admission_batches == "2024年第一批,2024年第二批"
        db.session.remove()
