"""The manual's step 2 in a browser: the four-step 专家入库申请, the review, return, resubmit,
approval, and the expert's 专家编号 with the 【继续教育】 entry."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.conftest import STAFF_PASSWORD
from tests.test_uploads import pdf, png

pytestmark = pytest.mark.browser


def files(tmp_path):
    paths = {}
    for name, data in (("一寸照.png", png()), ("身份证人像面.png", png()), ("身份证国徽面.png", png()),
                       ("职称证书.pdf", pdf()), ("学历证明.pdf", pdf()), ("申请表签字盖章.pdf", pdf())):
        path = tmp_path / name
        path.write_bytes(data)
        paths[name] = str(path)
    return paths


def staff_login(page, live_server):
    page.goto(f"{live_server}/login/?login_kind=staff")
    page.fill("#username", "testreviewer")
    page.fill("#password", STAFF_PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)  # signed in before the next goto


def test_wizard_review_return_resubmit_approve(browser, live_server, make_expert, tmp_path):
    account = make_expert("浏览器申请", employer="新疆测试建设公司")
    f = files(tmp_path)
    expert_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                     accept_downloads=True)
    page = expert_ctx.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server}/login/")
    page.fill("#username", account.username)
    page.fill("#password", account.password)
    page.click("button:has-text('登录')")
    page.click("#btn-application")
    page.wait_for_url("**/application/step/1")
    assert page.locator(".step-bar li.active").inner_text().strip().endswith("填写基本信息")

    # step 1, as the manual shows it; 暂存 first with a mistake
    page.select_option("#b_political_status", label="群众")
    page.fill("#b_email", "写错了")
    page.click("#btn-save")
    expect(page.locator("body")).to_contain_text("已暂存")
    page.click("#btn-next")
    expect(page.locator("[data-error-for=b_email]")).to_contain_text("电子邮箱格式不正确")
    assert page.input_value("#b_email") == "写错了"
    page.fill("#b_email", "liulanqi@163.com")
    page.fill("#b_backup_phone", "13700002222")
    page.check("#b_accepts_remote input[value='1']")
    page.check("#b_emergency_expert input[value='0']")
    page.select_option("#b_title", label="高级工程师")
    page.set_input_files("#b_photo_file", f["一寸照.png"])
    page.set_input_files("#b_id_front_file", f["身份证人像面.png"])
    page.set_input_files("#b_id_back_file", f["身份证国徽面.png"])
    page.set_input_files("#b_title_cert_file", f["职称证书.pdf"])
    page.click("#add-educations")
    page.select_option("#educations-0-education_level", label="大学本科")
    page.select_option("#educations-0-degree", label="学士")
    page.fill("#educations-0-school", "新疆大学")
    page.fill("#educations-0-major", "土木工程")
    page.fill("#educations-0-start_date", "1998-09-01")
    page.fill("#educations-0-end_date", "2002-07-01")
    page.set_input_files("#educations-0-proof_file", f["学历证明.pdf"])
    page.click("#add-work_experiences")
    page.fill("#work_experiences-0-start_date", "2002-07-15")
    page.fill("#work_experiences-0-employer", "新疆建工集团")
    assert page.locator("#renewal-note").is_visible()  # 续聘: the first appointment stays
    shot(page, "10-application-step1")
    page.click("#btn-next")
    page.wait_for_url("**/application/step/2")
    assert page.is_checked("#admission_type input[value='续聘']")
    expect(page.locator("#renewal-instruction")).to_contain_text("请选择【续聘】")
    shot(page, "11-application-step2")
    page.click("#btn-next")
    page.wait_for_url("**/application/step/3")
    with page.expect_download() as download:
        page.click("#download-form")
    assert download.value.suggested_filename.endswith(".pdf")
    page.click("#btn-next")
    expect(page.locator("body")).to_contain_text("请上传签字盖章后的申请表")
    page.set_input_files("#signed_form", f["申请表签字盖章.pdf"])
    shot(page, "12-application-step3")
    page.click("#btn-next")
    page.wait_for_url("**/application/step/4")
    shot(page, "13-application-step4")
    page.click("#btn-submit")
    expect(page.locator("body")).to_contain_text("已提交审核")
    assert page.inner_text("#application-status") == "待审核"

    # the reviewer returns it with an opinion
    staff_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    staff = staff_ctx.new_page()
    staff.set_default_timeout(15_000)
    staff_login(staff, live_server)
    staff.goto(f"{live_server}/reviewqueueview/list/?_flt_0_name=浏览器申请")
    staff.click(".review-link")
    staff.wait_for_url("**/review/*")
    assert staff.locator("#rule-flags tr").count() == 3
    shot(staff, "14-review-page")
    staff.fill("#opinion", "请上传更清晰的学历证明")
    staff.click("#btn-return")
    staff.wait_for_url("**/reviewqueueview/list/**")

    # the expert sees it, fixes, submits again
    page.goto(f"{live_server}/expert/")
    assert page.inner_text("#expert-status") == "已退回"
    page.click(".profile-tabs a:has-text('审核详情')")
    expect(page.locator("#tab-review")).to_contain_text("请上传更清晰的学历证明")
    shot(page, "15-returned-opinion")
    page.click("#btn-application")
    page.set_input_files("#educations-0-proof_file", f["学历证明.pdf"])
    page.click("#btn-next")
    page.click("#btn-next")
    page.click("#btn-next")
    page.wait_for_url("**/application/step/4")
    page.click("#btn-submit")
    assert page.inner_text("#application-status") == "待审核"

    # the reviewer approves
    staff.goto(f"{live_server}/reviewqueueview/list/?_flt_0_name=浏览器申请")
    staff.click(".review-link")
    staff.fill("#opinion", "同意入库")
    staff.click("#btn-approve")
    staff.wait_for_url("**/reviewqueueview/list/**")
    expect(staff.locator("body")).to_contain_text("专家编号")
    page.goto(f"{live_server}/expert/")
    assert page.inner_text("#expert-status") == "已入库"
    assert re.fullmatch(r"XJ\d{10}", page.inner_text("#expert-no").strip())
    page.click("#btn-training")
    page.wait_for_url("**/training/")
    shot(page, "16-continuing-education-entry")
    expert_ctx.close()
    staff_ctx.close()


def test_wizard_fits_a_phone(phone_page, live_server, make_expert):
    account = make_expert("手机申请")
    page = phone_page
    page.goto(f"{live_server}/login/")
    page.fill("#username", account.phone)
    page.fill("#password", account.password)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{live_server}/application/step/1")
    page.click("#add-educations")
    page.wait_for_url("**/application/step/1#section-educations")
    page.wait_for_load_state()
    assert page.evaluate("document.documentElement.scrollWidth") <= 362
    shot(page, "17-application-step1-phone")
