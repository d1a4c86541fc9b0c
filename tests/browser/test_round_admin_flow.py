"""Item 16 of issue 11 in a browser: staff open a 培训批次 through the menu and its form, typing
and picking 北京时间 in the browser's own date-and-time picker, then edit it and make it
inactive; the database holds the times in UTC without microseconds."""
import datetime as dt
import os
import re

import pytest
from playwright.sync_api import expect

from app.models import ExpertStatus
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _open, shot
from tests.conftest import ARTIFACTS, STAFF_PASSWORD

pytestmark = pytest.mark.browser

ZH_PAK = "/usr/lib/chromium/locales/zh-CN.pak"


@pytest.fixture(scope="module")
def zh_browser(playwright_driver):
    """Chromium in Chinese as on the department's machines: its date-and-time picker is drawn
    in the browser's language (the page's locale is not enough); Debian ships the Chinese
    resources in chromium-l10n."""
    assert os.path.exists(ZH_PAK), "中文界面需要 chromium-l10n：root 运行 'apt-get install chromium-l10n'"
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--lang=zh-CN"],
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


def staff_login(page, live_server) -> None:
    page.goto(f"{live_server}/login/")
    page.click("text=管理人员")
    page.fill("#username", "testadmin")
    page.fill("#password", STAFF_PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)


def test_item16_staff_create_and_edit_a_round_through_the_form(zh_page, live_server, app):
    page = zh_page
    name = f"2027年第一批（浏览器{os.getpid()}）"
    staff_login(page, live_server)
    page.click("a.dropdown-toggle:has-text('继续教育管理')")
    page.click(".dropdown-menu a:has-text('培训批次')")
    page.wait_for_url("**/trainingroundadminview/list/**")
    page.click("a[href*='/trainingroundadminview/add']")
    page.wait_for_url("**/trainingroundadminview/add**")
    expect(page.locator("label[for=enroll_start]")).to_contain_text("缴费开始时间（北京时间）")
    expect(page.locator("label[for=enroll_end]")).to_contain_text("缴费结束时间（北京时间）")
    assert page.locator("#active").is_checked()  # a new round is active unless unchecked

    type_like_a_person(page, "#name", name)
    # 入库批次 no other test's expert has: an active round enrols every matching expert
    batches = f"浏览器批次{os.getpid()},浏览器二批{os.getpid()}"
    type_like_a_person(page, "#admission_batches", batches)
    type_like_a_person(page, "#study_days", "45")
    type_like_a_person(page, "#fee_fen", "300")  # 元
    type_like_a_person(page, "#makeup_fee_fen", "100.00")
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
        assert rnd.admission_batches == batches
        db.session.remove()


def test_item16_staff_search_orders_by_beijing_time(zh_page, live_server, app, make_expert):
    """缴费订单 → 搜索 → 下单时间: the same picker, no script error, 北京时间 compared."""
    from app.extensions import db
    from app.models import Course, Enrollment, Expert, ExpertStatus, PaymentOrder, TrainingRound

    account = make_expert("浏览器订单", status=ExpertStatus.ADMITTED)
    expert_no = f"XJ17{account.expert_id:08d}"
    with app.app_context():
        rnd = TrainingRound(name=f"订单批次{account.expert_id}", active=False,
                            enroll_start=dt.datetime(2026, 1, 1), enroll_end=dt.datetime(2026, 2, 1),
                            fee_fen=30000)
        enrollment = Enrollment(expert=db.session.get(Expert, account.expert_id),
                                course=Course(round=rnd, name="订单课程"))
        db.session.add(PaymentOrder(order_no=f"B16{account.expert_id:010d}", enrollment=enrollment,
                                    expert_no=expert_no, amount_fen=30000, kind="培训费",
                                    created_at=dt.datetime(2026, 1, 5, 20, 15, 0, 654321)))
        db.session.commit()
        db.session.remove()
    page = zh_page
    staff_login(page, live_server)
    page.click("a.dropdown-toggle:has-text('继续教育管理')")
    page.click(".dropdown-menu a:has-text('缴费订单')")
    page.wait_for_url("**/paymentorderadminview/list/**")
    expect(page.locator("tr", has_text=expert_no)).to_contain_text("2026-01-06 04:15:00")
    page.click("a.accordion-toggle:has-text('搜索')")
    page.click("#filter_form button.dropdown-toggle:has-text('添加筛选条件')")
    page.click("#filter_form a.filter[name=created_at]")
    field = "#filter_form input.filter_val[type=datetime-local]"
    expect(page.locator(field)).to_be_visible()
    expect(page.locator("#filter_form .filters")).to_contain_text("晚于")
    # into its first segment (年): where that is in pixels depends on the font drawn, so
    # focus it as Tab does rather than clicking at a guessed offset
    page.locator(field).focus()
    page.keyboard.type("202601060416")  # a minute after the order, in 北京时间
    shot(page, "16-order-search")
    page.click("#filter_form button[type=submit]")
    page.wait_for_url("**_flt_0_created_at=**")
    expect(page.locator(".el-pagination__total")).to_contain_text("共")
    assert page.locator("td", has_text=expert_no).count() == 0
    # the filter stays with what was picked; a minute before the order instead
    assert page.input_value(field) == "2026-01-06T04:16"
    page.click("a.accordion-toggle:has-text('搜索')")
    expect(page.locator(field)).to_be_visible()
    page.locator(field).focus()
    for _ in range(4):  # 年 → 月 → 日 → 时 → 分
        page.keyboard.press("ArrowRight")
    page.keyboard.type("14")
    page.click("#filter_form button[type=submit]")
    page.wait_for_url("**_flt_0_created_at=2026-01-06T04%3A14**")
    expect(page.locator("td", has_text=expert_no)).to_have_count(1)
    shot(page, "16-order-search-found")


def fill_fee(page, label_text: str, yuan: int) -> None:
    """The fee fields by their label: 元 or 分, whichever the form asks for (the unit may change)."""
    field_id = page.locator("#model_form label", has_text=label_text).first.get_attribute("for")
    label = page.locator(f"label[for='{field_id}']").inner_text()
    type_like_a_person(page, f"#{field_id}", str(yuan) if "元" in label else str(yuan * 100))


def pick(page, field_id: str, text: str) -> None:
    """A Select2 field (FAB's relation and choice fields): open it, search, click the option."""
    page.click(f"#{field_id} + .select2 .select2-selection")
    search = page.locator(".select2-container--open .select2-search__field")
    if search.count():
        search.fill(text)
    page.click(f".select2-container--open .select2-results__option:has-text('{text}')")


def save_form(page, list_path: str) -> None:
    page.click("#model_form button[type=submit]:has-text('保存')")
    page.wait_for_load_state("load")
    if f"/{list_path}/list/" not in page.url:  # refused: say what the form says
        shot(page, f"16-refused-{list_path}")
        said = page.locator(".alert, .help-block, .text-danger").all_inner_texts()
        pytest.fail(f"{list_path}: " + " | ".join(said))
    expect(page.locator(".alert-danger")).to_have_count(0)


def open_menu(page, item: str, list_path: str) -> None:
    page.click("a.dropdown-toggle:has-text('继续教育管理')")
    page.click(f".dropdown-menu a:has-text('{item}')")
    page.wait_for_url(f"**/{list_path}/list/**")
    page.click(f"a[href*='/{list_path}/add']")
    page.wait_for_url(f"**/{list_path}/add**")


def test_staff_set_up_a_whole_round_through_the_screens(zh_page, live_server, app, make_expert,
                                                        browser):
    """新增培训批次 → 课程 → 课程资料 (a PDF and an MP4 uploaded) → 题库 → 试卷规则, each
    through its menu item and form; an expert of the round's 入库批次 then finds the course in
    我的培训 with 【缴费】."""
    from app.services.demo import DEMO_VIDEO, lesson_pdf

    page = zh_page
    pid = os.getpid()
    name, batch, course = f"2027年第二批（整套{pid}）", f"整套批次{pid}", f"整套课程{pid}"
    staff_login(page, live_server)

    open_menu(page, "培训批次", "trainingroundadminview")
    type_like_a_person(page, "#name", name)
    type_like_a_person(page, "#admission_batches", batch)
    type_like_a_person(page, "#study_days", "30")
    fill_fee(page, "培训费", 300)
    fill_fee(page, "补学费", 100)
    beijing_now = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=8)
    page.fill("#enroll_start", (beijing_now - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#enroll_end", (beijing_now + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"))
    save_form(page, "trainingroundadminview")
    expect(round_row(page, name)).to_contain_text("是")

    open_menu(page, "课程", "courseadminview")
    pick(page, "round", name)
    type_like_a_person(page, "#name", course)
    type_like_a_person(page, "#required_minutes", "30")
    shot(page, "16-course-add")
    save_form(page, "courseadminview")
    expect(page.locator("table tr", has_text=course)).to_contain_text(name)

    # a file with a Chinese name, as staff's files are (given as a payload: Playwright
    # drops a file chosen by a non-ASCII path)
    pdf = {"name": "第一讲课件.pdf", "mimeType": "application/pdf",
           "buffer": lesson_pdf(course, [("判断", "评标专家应当遵守评标纪律。", "", "对")])}
    for title, upload in (("第一讲（课件）", pdf), ("第二讲（视频）", str(DEMO_VIDEO))):
        open_menu(page, "课程资料", "lessonadminview")
        pick(page, "course", course)
        type_like_a_person(page, "#title", title)
        page.set_input_files("#upload", upload)
        save_form(page, "lessonadminview")
        expect(page.locator("table tr", has_text=title)).to_contain_text(course)
    shot(page, "16-lessons-list")

    questions = [("单选", "评标委员会成员人数为几人以上单数？", "A. 3人\nB. 5人\nC. 7人", "B"),
                 ("判断", "评标专家可以私下接触投标人。", "", "错")]
    for kind, text, options, answer in questions:
        open_menu(page, "题库", "questionadminview")
        pick(page, "course", course)
        pick(page, "kind", kind)
        page.fill("#text", text)
        if options:
            page.fill("#options", options)
        type_like_a_person(page, "#answer", answer)
        save_form(page, "questionadminview")  # the bank's list may put it on a later page

    open_menu(page, "试卷规则", "paperruleadminview")
    pick(page, "course", course)
    for field, value in (("single_count", "1"), ("single_score", "50"), ("judge_count", "1"),
                         ("judge_score", "50"), ("time_limit_minutes", "20")):
        type_like_a_person(page, f"#{field}", value)
    shot(page, "16-paper-rule-add")
    save_form(page, "paperruleadminview")
    expect(page.locator("table tr", has_text=course)).to_contain_text("20")

    from app.extensions import db
    from app.models import Course, Expert, PaperRule, Question, TrainingRound

    with app.app_context():
        rnd = db.session.query(TrainingRound).filter_by(name=name).one()
        assert rnd.active and rnd.admission_batches == batch and rnd.fee_fen == 30000
        row = db.session.query(Course).filter_by(name=course).one()
        assert row.round_id == rnd.id and row.required_minutes == 30
        assert sorted(lesson.file.content_type for lesson in row.lessons) == ["application/pdf",
                                                                              "video/mp4"]
        assert "第一讲课件.pdf" in [lesson.file.original_name for lesson in row.lessons]
        assert db.session.query(Question).filter_by(course_id=row.id).count() == 2
        rule = db.session.query(PaperRule).filter_by(course_id=row.id).one()
        assert (rule.single_count, rule.judge_count, rule.time_limit_minutes) == (1, 1, 20)
        db.session.remove()

    # an admitted expert of that 入库批次 finds the course in 我的培训, with 【缴费】
    account = make_expert("整套专家", status=ExpertStatus.ADMITTED)
    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        expert.admission_batch, expert.expert_no = batch, f"XJ2027{account.expert_id:06d}"
        db.session.commit()
        db.session.remove()
    context, expert_page, errors = _open(browser, viewport={"width": 1280, "height": 900})
    expert_page.goto(f"{live_server}/login/")
    expert_page.fill("#username", account.username)
    expert_page.fill("#password", account.password)
    expert_page.click("button:has-text('登录')")
    expert_page.wait_for_url(lambda url: "/login" not in url)
    expert_page.goto(f"{live_server}/training/")
    row = expert_page.locator("#training-table tr[data-enrollment]", has_text=course)
    expect(row.locator(".pay-link")).to_be_visible()
    shot(expert_page, "16-round-seen-by-expert")
    context.close()
    assert not errors, errors
    with app.app_context():  # closed again: an active round enrols every matching expert
        db.session.query(TrainingRound).filter_by(name=name).one().active = False
        db.session.commit()
        db.session.remove()
