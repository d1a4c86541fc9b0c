"""The expert's phone (issue 13): 我的培训 at 360 px as cards with 学习 / 缴费 on each, touch
targets of 44 px, no sideways scrolling on any expert page, an accessible name on every input
of the wizard's repeating rows; and the demo data a newcomer studies with — the demo expert
pays (the reviewer confirms it by hand), opens the PDF and the video lesson and sits the exam."""
import os

import pytest
from playwright.sync_api import expect

from app.models import ExpertStatus
from app.services.demo import (
    DEMO_PASSWORD_EXPERT,
    DEMO_PASSWORD_REVIEWER,
    DEMO_QUESTIONS,
    DEMO_STUDY_ROUND,
)
from tests.browser.conftest import _open, shot
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

PHONE = 360
# the elements a finger presses: buttons, links drawn as buttons, fields, tabs, choice labels
TARGETS = (".btn, input:not([type=hidden]):not([type=radio]):not([type=checkbox]), select, "
           "textarea, .nav-tabs > li > a, label.radio-inline, label.checkbox-inline, "
           ".radio label, .checkbox label, label.radio, label.checkbox, .list-group-item")

SMALL_TARGETS_JS = """(selector) => [...document.querySelectorAll(selector)]
  .filter(el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0
                  && getComputedStyle(el).visibility !== 'hidden'; })
  .filter(el => el.getBoundingClientRect().height < 44 - 0.5)
  .map(el => el.outerHTML.slice(0, 120) + ' h=' + el.getBoundingClientRect().height)"""

WIDE_JS = """(limit) => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > limit + 0.5)
  .filter(el => ![...el.children].some(c => c.getBoundingClientRect().right > limit + 0.5))
  .slice(0, 8).map(el => el.tagName + '.' + el.className + ' ' + el.getBoundingClientRect().right)"""

UNNAMED_FIELDS_JS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.getAttribute('aria-label') || '').trim()
                && !el.getAttribute('aria-labelledby')
                && !(el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]'))
                && !el.closest('label'))
  .map(el => el.outerHTML.slice(0, 120))"""


@pytest.fixture(scope="module")
def demo_round(app):
    """`flask demo-data` as `make run` does, committed. Afterwards the demo round is closed
    and renamed (an active round enrols every admitted expert of its 入库批次, other tests'
    too) and the demo staff accounts renamed (`demo-data --once` skips when `admin` exists:
    a later test of the command must find none)."""
    result = app.test_cli_runner().invoke(args=["demo-data", "--experts", "0"])
    assert result.exit_code == 0, result.output
    yield DEMO_STUDY_ROUND
    from app.extensions import db
    from app.models import AppUser, TrainingRound

    tag = f"{os.getpid()}"
    with app.app_context():
        rnd = db.session.query(TrainingRound).filter_by(name=DEMO_STUDY_ROUND).one()
        rnd.active = False
        rnd.name = f"{DEMO_STUDY_ROUND[:40]}已测{tag}"
        for user in db.session.query(AppUser).filter(AppUser.username.in_(["admin", "shenhe"])):
            user.username, user.email = f"{user.username}-{tag}", f"{tag}-{user.email}"
        db.session.commit()
        db.session.remove()


def _login(page, live_server, username, password):
    page.goto(f"{live_server}/login/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)


def no_sideways_scroll(page, name: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE:
        shot(page, f"h7-phone-{name}-too-wide")
    wide = page.evaluate(WIDE_JS, PHONE) if width > PHONE else []
    assert width <= PHONE, f"{name}: {width} px wide at {PHONE} px: {wide}"


def touch_targets_ok(page, name: str) -> None:
    small = page.evaluate(SMALL_TARGETS_JS, TARGETS)
    assert not small, f"{name}: {small}"


def check_page(page, url: str, name: str) -> None:
    page.goto(url)
    page.wait_for_load_state("load")
    assert "/login" not in page.url, url
    no_sideways_scroll(page, name)
    touch_targets_ok(page, name)
    shot(page, f"h7-phone-{name}")


def _give_expert_no(app, account) -> str:
    """审核通过 gives the 专家编号 (the review screens, tested elsewhere)."""
    from app.extensions import db
    from app.models import Expert

    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        expert.expert_no = f"XJ2036{account.expert_id:06d}"
        db.session.commit()
        db.session.remove()
    return f"XJ2036{account.expert_id:06d}"


def test_my_training_as_cards_at_360(phone_page, live_server, app, make_expert, demo_round):
    page = phone_page
    account = make_expert("手机专家", status=ExpertStatus.ADMITTED)  # 入库批次 2024年第一批
    _give_expert_no(app, account)
    _login(page, live_server, account.username, account.password)
    # through the menu, as on the phone: the collapsed navbar first
    page.click(".navbar-toggle")
    page.click("a.dropdown-toggle:has-text('继续教育')")
    page.click(".dropdown-menu a:has-text('我的培训')")
    page.wait_for_url("**/training/**")
    cards = page.locator("#training-table tr.training-card")
    expect(cards).to_have_count(len(DEMO_QUESTIONS))  # one card per course of the demo round
    no_sideways_scroll(page, "my-training")
    touch_targets_ok(page, "my-training")
    for i in range(cards.count()):
        card = cards.nth(i)
        for link in (card.locator(".study-link"), card.locator(".pay-link")):
            expect(link).to_be_visible()
            box = link.bounding_box()
            assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= PHONE
            assert box["width"] >= PHONE * 0.7  # full width on the card
        # the fields are labelled on the card, the course name on one or two lines
        expect(card.locator("td[data-label='学习进度']")).to_be_visible()
        label = card.locator("td[data-label='学习进度']").evaluate(
            "el => getComputedStyle(el, '::before').content")
        assert "学习进度" in label
        name_cell = card.locator("td.course-name")
        line = float(name_cell.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)"))
        assert name_cell.bounding_box()["height"] < 3 * line + 24  # not one character per line
        assert name_cell.bounding_box()["width"] > 200
    shot(page, "h7-phone-my-training")

    page.locator(".pay-link").first.click()
    page.wait_for_url("**/pay")
    expect(page.locator("#pay-qr")).to_be_visible()
    no_sideways_scroll(page, "pay")
    touch_targets_ok(page, "pay")
    shot(page, "h7-phone-pay")

    # the other expert pages of an admitted expert
    for url, name in [("/expert/", "profile"), ("/certificates/", "certificates"),
                      ("/my/transfer", "transfer"), ("/my/modify", "modify"),
                      ("/account/", "account"), ("/account/password", "password")]:
        check_page(page, f"{live_server}{url}", name)
    # 下载 is the 个人信息表 itself (a PDF), not a page
    resp = page.request.get(f"{live_server}/my/info.pdf")
    assert resp.ok and resp.headers["content-type"].startswith("application/pdf")
    # the profile's tabs are finger-sized too
    page.goto(f"{live_server}/expert/")
    page.click(".profile-tabs a:has-text('工作经历')")
    expect(page.locator("#tab-work")).to_be_visible()
    touch_targets_ok(page, "profile-work-tab")


def test_wizard_at_360_every_field_named(phone_page, live_server, app, make_expert):
    page = phone_page
    account = make_expert("手机申请")  # 草稿
    _login(page, live_server, account.username, account.password)
    page.goto(f"{live_server}/application/step/1")
    # a row of every repeating table, added as a person does
    for button in page.locator("button.add-row").all():
        section = button.get_attribute("id")
        page.click(f"#{section}")
        page.wait_for_load_state("load")
    assert page.locator(".wizard-rows tr td[data-label]").count() > 20
    for step in (1, 2, 3, 4):
        page.goto(f"{live_server}/application/step/{step}")
        no_sideways_scroll(page, f"wizard-{step}")
        touch_targets_ok(page, f"wizard-{step}")
        unnamed = page.evaluate(UNNAMED_FIELDS_JS)
        assert not unnamed, f"step {step}: {unnamed}"
        shot(page, f"h7-phone-wizard-{step}")
    # the repeating rows name each input after its column
    page.goto(f"{live_server}/application/step/1")
    mismatched = page.evaluate("""() => [...document.querySelectorAll('.wizard-rows td[data-label]')]
      .flatMap(td => [...td.querySelectorAll('input:not([type=hidden]):not([type=radio]), select, textarea')]
        .filter(el => el.getAttribute('aria-label') !== td.dataset.label)
        .map(el => td.dataset.label + ': ' + el.outerHTML.slice(0, 80)))""")
    assert not mismatched, mismatched

def test_print_stylesheet_of_the_profile(phone_page, live_server, app, make_expert):
    page = phone_page
    account = make_expert("打印专家", status=ExpertStatus.ADMITTED)
    _login(page, live_server, account.username, account.password)
    page.goto(f"{live_server}/expert/")
    page.emulate_media(media="print")
    assert not page.locator(".navbar").is_visible()
    assert not page.locator("#btn-application").is_visible()
    # every tab printed, one after another, black on white
    expect(page.locator("#tab-work")).to_be_visible()
    expect(page.locator("#tab-account")).to_be_visible()
    color = page.locator(".profile-table td").first.evaluate("el => getComputedStyle(el).color")
    assert color == "rgb(0, 0, 0)"
    # the printout itself, to look at (Chromium prints with the print stylesheet)
    ARTIFACTS.mkdir(exist_ok=True)
    page.pdf(path=str(ARTIFACTS / "h7-print-profile.pdf"), format="A4")
    page.emulate_media(media="screen")
    assert page.locator(".navbar").is_visible()


def test_demo_expert_pays_studies_and_sits_the_exam(phone_page, live_server, app, browser,
                                                   demo_round):
    page = phone_page
    _login(page, live_server, "maimaitiaili", DEMO_PASSWORD_EXPERT)
    page.goto(f"{live_server}/training/")
    course = next(iter(DEMO_QUESTIONS))
    card = page.locator("#training-table tr.training-card", has_text=course).first
    card.locator(".pay-link").click()
    page.wait_for_url("**/pay")
    order_no = page.inner_text("#order-no")

    # the reviewer confirms the payment by hand (the local stand-in takes no money)
    staff_ctx, staff, errors = _open(browser, viewport={"width": 1280, "height": 900})
    staff.goto(f"{live_server}/login/?login_kind=staff")
    staff.fill("#username", "shenhe")
    staff.fill("#password", DEMO_PASSWORD_REVIEWER)
    staff.click("button:has-text('登录')")
    staff.wait_for_url(lambda url: "/login" not in url)
    staff.click("a.dropdown-toggle:has-text('继续教育管理')")
    staff.click(".dropdown-menu a:has-text('线下对账')")
    staff.fill("#m-order_no", order_no)
    staff.fill("#m-reference", f"DEMO-{order_no}")
    staff.click("#btn-manual")
    expect(staff.locator(".alert")).to_contain_text("已确认缴费")
    staff_ctx.close()
    assert not errors, errors

    # open at once: the demo round opens 0 days after payment
    page.goto(f"{live_server}/training/")
    card = page.locator("#training-table tr.training-card", has_text=course).first
    expect(card.locator(".pay-link")).to_have_count(0)
    card.locator(".study-link").click()
    page.wait_for_url("**/study**")
    expect(page.locator("#lessons a")).to_have_count(2)
    expect(page.locator("#lesson-pdf")).to_be_visible()  # the 课件 first
    src = page.get_attribute("#lesson-pdf", "src")
    pdf = page.request.get(f"{live_server}{src}")
    assert pdf.ok and pdf.body().startswith(b"%PDF-")
    no_sideways_scroll(page, "study-pdf")
    shot(page, "h7-phone-study-pdf")
    page.click("#lessons a:has-text('（视频）')")
    page.wait_for_url("**lesson=**")
    video = page.locator("#lesson-video")
    expect(video).to_be_visible()
    # the real video: its length is read from the file, and it plays
    page.wait_for_function("() => document.querySelector('#lesson-video').readyState >= 1")
    duration = video.evaluate("v => v.duration")
    assert 7 <= duration <= 9
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('#lesson-video').currentTime > 0.5")
    no_sideways_scroll(page, "study-video")
    touch_targets_ok(page, "study-video")
    shot(page, "h7-phone-study-video")

    _studied(app, course)  # the course's minute passes (the clock, not a person)
    page.reload()
    page.click("#btn-exam")
    page.wait_for_url("**/exam")
    questions = page.locator(".question")
    expect(questions).to_have_count(9)
    no_sideways_scroll(page, "exam")
    touch_targets_ok(page, "exam")
    for i in range(questions.count()):
        q = questions.nth(i)
        # the options of a choice question one under another, none over its neighbour
        tops = [box["y"] for box in (label.bounding_box() for label in
                                    q.locator("label.radio, label.checkbox").all())]
        assert tops == sorted(tops) and len(set(tops)) == len(tops), tops
        body = q.locator(".panel-body").bounding_box()
        for box in (i.bounding_box() for i in q.locator("input[type=radio], input[type=checkbox]").all()):
            assert box["x"] >= body["x"], (box, body)  # inside the card, not on its border
        if q.locator("textarea").count():
            q.locator("textarea").fill("不私下接触投标人，不收受财物，不透露评审情况。")
        else:
            q.locator("input").first.check()
    page.wait_for_timeout(300)  # answers are saved as they are given
    shot(page, "h7-phone-exam")
    page.click("#btn-submit-exam")
    page.wait_for_url("**/training/")
    expect(page.locator(".alert")).to_contain_text("已交卷")
    card = page.locator("#training-table tr.training-card", has_text=course).first
    expect(card.locator("td[data-label='批阅状态']")).to_contain_text("待批阅")  # the 简答 waits
    shot(page, "h7-phone-exam-handed-in")


def _studied(app, course_name: str) -> None:
    from app.extensions import db
    from app.models import Course, Enrollment, Expert, TrainingRound

    with app.app_context():
        expert = db.session.query(Expert).filter_by(id_number="652101198203104514").one()
        for e in (db.session.query(Enrollment).join(Course).join(TrainingRound)
                  .filter(Enrollment.expert_id == expert.id, Course.name == course_name,
                          TrainingRound.name == DEMO_STUDY_ROUND)):
            e.credited_seconds = e.course.required_minutes * 60
        db.session.commit()
        db.session.remove()

