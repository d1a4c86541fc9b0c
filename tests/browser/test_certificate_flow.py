"""The manual's step 三 (继续教育合格证书) in a browser: an expert who passed opens 【专家证书】,
downloads 【下载图片】 and 【下载 pdf】; the QR code in the image opens the public verification
page (a fresh, not logged-in browser) which says 有效; staff revoke it with a reason and the
page says 已撤销; staff issue a whole round and watch the progress bar."""
import io
import shutil

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.conftest import ARTIFACTS, STAFF_PASSWORD
from tests.test_certificate import passed  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser, pytest.mark.commits]  # a live server: real commits


def _login(page, live_server, username, password, kind="expert"):
    page.goto(f"{live_server}/login/?login_kind={kind}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)


def test_expert_downloads_and_verifies_then_staff_revoke(page, live_server, app, browser, passed):  # noqa: F811
    from pyzbar.pyzbar import decode

    account = passed("古丽·阿不都")
    _login(page, live_server, account.username, account.password)
    page.click("a:has-text('专家证书')")
    page.wait_for_url("**/certificates/")
    assert page.locator(".btn-download-png").inner_text().strip() == "下载图片"
    assert page.locator(".btn-download-pdf").inner_text().strip() == "下载 pdf"
    page.wait_for_function("document.querySelector('.cert-image').naturalWidth > 0")
    shot(page, "30-my-certificate")
    number = page.locator(".certificate").get_attribute("data-number")

    with page.expect_download() as info:
        page.click(".btn-download-png")
    png_path = info.value.path()
    assert info.value.suggested_filename.endswith(".png")
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(png_path, ARTIFACTS / "31-certificate.png")
    image = Image.open(png_path)
    assert image.size == (1754, 1241)
    url = decode(image)[0].data.decode()
    assert url == f"{live_server}/certificates/verify/{number}"

    with page.expect_download() as info:
        page.click(".btn-download-pdf")
    with open(info.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-"
    assert info.value.suggested_filename.endswith(".pdf")

    public = browser.new_context(locale="zh-CN")  # nobody logged in
    visitor = public.new_page()
    visitor.goto(url)
    assert visitor.inner_text("#verify-status") == "有效"
    holder = visitor.inner_text("#verify-holder")
    assert holder.startswith("古") and "阿不都" not in holder
    shot(visitor, "32-verify-valid")

    staff_ctx = browser.new_context(locale="zh-CN")
    staff = staff_ctx.new_page()
    _login(staff, live_server, "testreviewer", STAFF_PASSWORD, "staff")
    staff.goto(f"{live_server}/certificateadminview/list/?_flt_0_number={number}")
    shot(staff, "33-staff-certificates")
    staff.goto(f"{live_server}/certificateadminview/list/")
    staff.locator("tr", has_text=number).locator("a[href*='/show/']").first.click()
    staff.click("#btn-revoke-page")
    staff.click("#btn-revoke")  # no reason: refused in Chinese
    expect(staff.locator("#revoke-error")).to_contain_text("请填写撤销原因")
    staff.fill("#reason", "培训记录有误，待核实")
    shot(staff, "34-revoke")
    staff.click("#btn-revoke")
    expect(staff.locator("body")).to_contain_text("已撤销")  # after the page has come back
    staff_ctx.close()

    visitor.reload()
    expect(visitor.locator("#verify-status")).to_have_text("已撤销")
    shot(visitor, "35-verify-revoked")
    public.close()
    page.goto(f"{live_server}/certificates/")
    expect(page.locator("body")).to_contain_text("该证书已撤销")


def test_staff_issue_a_round_with_progress_bar(page, live_server, app, passed):  # noqa: F811
    first = passed("整批浏览器甲")
    for name in ("整批浏览器乙", "整批浏览器丙"):
        passed(name, round_id=first.round_id)
    _login(page, live_server, "testreviewer", STAFF_PASSWORD, "staff")
    page.goto(f"{live_server}/certificates/admin/")
    shot(page, "36-issue-rounds")
    app.config["CERTIFICATE_BATCH_INLINE"] = True
    try:
        page.locator(f"tr[data-round='{first.round_id}'] .btn-issue-round").click()
        page.wait_for_url("**/certificates/admin/batch/*")
        page.wait_for_function("document.getElementById('batch-bar').textContent === '100%'")
    finally:
        app.config["CERTIFICATE_BATCH_INLINE"] = False
    assert page.inner_text("#batch-status") == "已完成"
    assert page.inner_text("#batch-done") == "3"
    shot(page, "37-issue-progress")
    png = Image.open(io.BytesIO(page.screenshot()))
    assert png.size[0] == 1280
