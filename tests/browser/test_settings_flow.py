"""系统设置 in a real browser: the administrator opens it from the menu, changes the certificate
issuer and the lock threshold, saves, sees 已保存 and the new values, and finds the change in
审计日志."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.browser


def _cleanup(app):
    from app.extensions import db
    from app.models import SystemSetting

    with app.app_context():
        db.session.query(SystemSetting).delete()
        db.session.commit()
        db.session.remove()


def test_admin_changes_issuer_and_lock_threshold(page, live_server, app):
    try:
        page.goto(f"{live_server}/login/?login_kind=staff")
        page.fill("#username", "testadmin")
        page.fill("#password", STAFF_PASSWORD)
        page.click("button:has-text('登录')")
        page.wait_for_url(lambda url: "/login" not in url)
        page.click("a.dropdown-toggle:has-text('系统管理')")
        page.click("a:has-text('系统设置')")
        page.wait_for_url("**/settings/")
        expect(page.locator("legend")).to_have_count(6)
        expect(page.locator("#seal-preview")).to_be_visible()
        shot(page, "settings-01-screen")

        page.fill("#LOGIN_MAX_FAILURES", "100")
        page.click("#settings-save")
        expect(page.locator("#error-LOGIN_MAX_FAILURES")).to_contain_text("3 至 20")
        assert page.input_value("#LOGIN_MAX_FAILURES") == "100"  # what was typed, kept
        shot(page, "settings-02-error")

        page.fill("#CERTIFICATE_ISSUER", "自治区住房和城乡建设厅继续教育中心")
        page.fill("#LOGIN_MAX_FAILURES", "4")
        page.click("#settings-save")
        page.wait_for_url("**/settings/")
        expect(page.locator(".alert")).to_contain_text("已保存")
        assert page.input_value("#CERTIFICATE_ISSUER") == "自治区住房和城乡建设厅继续教育中心"
        assert page.input_value("#LOGIN_MAX_FAILURES") == "4"
        expect(page.locator("#reset-LOGIN_MAX_FAILURES")).to_be_visible()
        shot(page, "settings-03-saved")

        page.click("a.dropdown-toggle:has-text('系统管理')")
        page.click("a:has-text('审计日志')")
        page.wait_for_url("**/auditeventview/list/**")
        body = page.locator("body")
        expect(body).to_contain_text("修改系统设置")
        expect(body).to_contain_text("发证机关")
        expect(body).to_contain_text("锁定前允许的密码错误次数")
        shot(page, "settings-04-audit")
    finally:
        _cleanup(app)
