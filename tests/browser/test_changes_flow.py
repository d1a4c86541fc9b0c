"""The manual's step 四 in a browser: 【下载】 the 个人信息表, 【异动申请】 from request to approval,
【修改】 of the allowed fields (the locked ones cannot be edited), and 个人中心 (基本资料, 修改密码)
reached from the icon at the top right."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_application_flow import staff_login
from tests.conftest import EXPERT_PASSWORD
from tests.test_changes import make_admitted, pass_training
from tests.test_uploads import pdf

pytestmark = pytest.mark.browser


def expert_login(page, live_server, username, password):
    page.goto(f"{live_server}/login/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button:has-text('登录')")
    page.wait_for_url("**/expert/")


def test_download_transfer_modify_and_personal_centre(browser, live_server, app, make_expert,
                                                       tmp_path):
    admitted = make_admitted(app, make_expert)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    expert_login(page, live_server, admitted.username, admitted.password)

    # 【下载】 the personal information form
    with page.expect_download() as info:
        page.click("#btn-download-info")
    download = info.value
    assert download.suggested_filename == "评标专家个人信息表-变更专家.pdf"
    assert open(download.path(), "rb").read(5) == b"%PDF-"

    # 【异动申请】 waits for continuing education and its exam
    page.click("#btn-transfer")
    expect(page.locator("#transfer-refusal")).to_contain_text("考试合格后")
    pass_training(app, admitted.expert_id)
    page.reload()
    page.click("#btn-submit-transfer")  # nothing chosen: messages beside the fields
    expect(page.locator("[data-error-for=to_prefecture]")).to_contain_text("请选择异动后的所在市州")
    expect(page.locator("[data-error-for=reason]")).to_contain_text("请填写异动原因")
    proof = tmp_path / "调动证明.pdf"
    proof.write_bytes(pdf())
    page.select_option("#to_prefecture", label="喀什地区")
    page.fill("#reason", "工作单位调动至喀什")
    page.set_input_files("#attachment", str(proof))
    page.click("#btn-submit-transfer")
    expect(page.locator("body")).to_contain_text("异动申请已提交")
    expect(page.locator("#pending-transfer")).to_contain_text("喀什地区")
    shot(page, "issue6-transfer-pending")

    # the reviewer approves it
    staff_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    staff = staff_ctx.new_page()
    staff.set_default_timeout(15_000)
    staff_login(staff, live_server)
    staff.goto(f"{live_server}/transferrequestadminview/list/")
    expect(staff.locator("body")).to_contain_text("待审核")
    staff.click("a[href*='/transferrequestadminview/show/']")
    expect(staff.locator("body")).to_contain_text("工作单位调动至喀什")
    staff.fill("#opinion", "同意异动")
    staff.click("#btn-approve")
    expect(staff.locator("body")).to_contain_text("审核完成")
    shot(staff, "issue6-transfer-approved-staff")
    staff_ctx.close()

    page.reload()
    expect(page.locator("#transfer-history")).to_contain_text("已通过")
    page.goto(f"{live_server}/expert/")
    expect(page.locator("#tab-basic")).to_contain_text("喀什地区")
    # 【修改】: the locked fields cannot be edited; an allowed one is saved and recorded
    page.click("#btn-modify")
    assert page.locator("#b_prefecture").is_disabled()
    expect(page.locator("[data-locked=prefecture]")).to_contain_text("异动申请")
    page.fill("#b_address", "喀什市人民路1号")
    page.fill("#b_email", "错误邮箱")
    page.click("#btn-save-modify")
    expect(page.locator("[data-error-for=b_email]")).to_contain_text("电子邮箱格式不正确")
    assert page.input_value("#b_address") == "喀什市人民路1号"  # kept
    page.fill("#b_email", "kashi@163.com")
    page.click("#btn-save-modify")
    expect(page.locator("body")).to_contain_text("修改已保存")
    expect(page.locator("#change-history")).to_contain_text("喀什市人民路1号")
    shot(page, "issue6-modify")

    # the icon at the top right: 个人中心 and 退出登录
    page.click("#user-menu")
    assert page.locator("text=退出登录").is_visible()
    page.click("#menu-center")
    assert page.input_value("#phone") == admitted.phone
    page.fill("#email", "kashi2@163.com")
    page.click("#basic-profile-submit")
    expect(page.locator("body")).to_contain_text("基本资料已保存")
    shot(page, "issue6-personal-centre")
    page.click("#tab-password")
    page.fill("#current_password", EXPERT_PASSWORD)
    page.fill("#new_password", "Kashi2026new")
    page.fill("#confirm_password", "Kashi2026new")
    page.click("#change-password-submit")
    expect(page.locator("body")).to_contain_text("密码修改成功")
    page.click("#user-menu")
    page.click("button:has-text('退出登录')")
    page.wait_for_url("**/login/**")
    expert_login(page, live_server, admitted.username, "Kashi2026new")
    context.close()
    assert not errors, errors
