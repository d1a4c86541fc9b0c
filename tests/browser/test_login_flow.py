"""The manual's step 1 in a real browser: 专家 → 账号密码登录 → forced password change → home."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.browser

TABS = ["基本信息", "教育经历", "专业技术", "职称及资质", "工作经历", "评标实践经验", "业务技术专长",
        "回避单位", "账户信息", "附件", "审核详情", "学习培训情况"]


def test_expert_first_login_changes_password_then_sees_profile(page, live_server, make_expert):
    account = make_expert("浏览器专家", default_password=True)
    page.goto(f"{live_server}/")
    expect(page.locator(".login-title")).to_contain_text("评标专家管理系统")
    page.click("text=专家")
    expect(page.locator(".login-method")).to_contain_text("账号密码登录")
    page.fill("#username", account.username)
    page.fill("#password", "wrong-password")
    page.click("button:has-text('登录')")
    expect(page.locator(".field-error")).to_contain_text("账号或密码错误")
    assert page.input_value("#username") == account.username
    shot(page, "01-login-error")

    page.fill("#password", account.id_number[-8:])
    page.click("button:has-text('登录')")
    page.wait_for_url("**/account/password")
    expect(page.locator("body")).to_contain_text("请立即修改密码")
    shot(page, "02-forced-password-change")
    page.goto(f"{live_server}/expert/")  # nothing else is reachable yet
    page.wait_for_url("**/account/password")

    page.fill("#current_password", account.id_number[-8:])
    page.fill("#new_password", "abc")
    page.fill("#confirm_password", "abc")
    page.click("#change-password-submit")
    expect(page.locator("body")).to_contain_text("至少8位")
    page.fill("#current_password", account.id_number[-8:])
    page.fill("#new_password", "Tianshan2025")
    page.fill("#confirm_password", "Tianshan2025")
    page.click("#change-password-submit")
    page.wait_for_url("**/expert/")
    body = page.inner_text("body")
    assert "密码修改成功" in body and "浏览器专家" in body
    for tab in TABS:
        assert page.locator(f".profile-tabs a:has-text('{tab}')").count() == 1
    page.click(".profile-tabs a:has-text('回避单位')")
    assert page.locator("#tab-avoidance").is_visible()
    expect(page.locator("#tab-avoidance")).to_contain_text("新疆测试建设公司")
    shot(page, "03-expert-home")

    page.click("#user-menu")
    page.click("button:has-text('退出登录')")
    page.wait_for_url("**/login/**")


def test_expert_logs_in_with_phone_on_a_phone(phone_page, live_server, make_expert):
    account = make_expert("手机登录")
    page = phone_page
    page.goto(f"{live_server}/login/")
    page.fill("#username", account.phone)
    page.fill("#password", account.password)
    page.click("button:has-text('登录')")
    page.wait_for_url("**/expert/")
    expect(page.locator("body")).to_contain_text("手机登录")
    # the page fits a 360 px screen: no sideways scrolling of the page itself
    assert page.evaluate("document.documentElement.scrollWidth") <= 362
    shot(page, "04-expert-home-phone")


def test_staff_logs_in_searches_and_sees_export(page, live_server, make_expert):
    make_expert("浏览器查找")
    page.goto(f"{live_server}/login/")
    page.click("text=管理人员")
    page.fill("#username", "testreviewer")
    page.fill("#password", STAFF_PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url("**/dashboard/**")  # staff land on the 首页 (issue 13)
    page.goto(f"{live_server}/expertadminview/list/")
    assert page.locator("#export-excel").is_visible()
    page.goto(f"{live_server}/expertadminview/list/?_flt_0_name=浏览器查找")
    assert page.locator("td:has-text('浏览器查找')").count() == 1
    shot(page, "05-staff-list")
    with page.expect_download() as download:
        page.click("#export-excel")
    assert download.value.suggested_filename.endswith(".xlsx")
