"""The manual's step 三 in a browser: 我的培训 → 缴费 (QR) → confirmed by 线下对账 → two days
later (clock moved) 学习 → 考试 → 合格 / 培训完毕 = 是; and a failing expert's 补学."""
import datetime as dt
import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from app.models import ExpertStatus, utcnow
from tests.browser.conftest import shot
from tests.conftest import STAFF_PASSWORD
from tests.test_payment import statement
from tests.test_study_views import MP4

pytestmark = pytest.mark.browser


@pytest.fixture
def round_for(app, make_expert):
    from app.extensions import db
    from app.models import Course, Expert, Lesson, PaperRule, Question, TrainingRound
    from app.services import uploads

    def factory(name):
        account = make_expert(name, status=ExpertStatus.ADMITTED)
        with app.app_context():
            expert = db.session.get(Expert, account.expert_id)
            expert.expert_no = f"XJ2097{account.expert_id:06d}"
            expert.admission_batch = f"浏览器批{account.expert_id}"
            now = utcnow()
            rnd = TrainingRound(name=f"2025年第一批（{account.expert_id}）",
                                admission_batches=expert.admission_batch, fee_fen=30000,
                                makeup_fee_fen=10000, enroll_start=now - dt.timedelta(days=1),
                                enroll_end=now + dt.timedelta(days=30), pass_mark=60,
                                attempts_allowed=1, study_days=10)
            course = Course(round=rnd, name="专家知识课程", required_minutes=1)
            video = uploads.store(db.session, owner_id=None, kind_name="lesson", filename="第一讲.mp4",
                                  data=MP4, upload_dir=app.config["UPLOAD_FOLDER"])
            db.session.add(Lesson(course=course, title="第一讲 评标纪律", file=video))
            db.session.add(Question(course=course, kind="判断", text="评标专家应当回避与本人有利害关系的项目",
                                    answer="对"))
            db.session.add(PaperRule(course=course, judge_count=1, judge_score=100,
                                     time_limit_minutes=20))
            db.session.commit()
            account.expert_no = expert.expert_no
            db.session.remove()
        return account
    return factory


def _login(page, live_server, account):
    page.goto(f"{live_server}/login/")
    page.fill("#username", account.username)
    page.fill("#password", account.password)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)


def _two_days_later(app, expert_id):
    """Move the payment back by two days: the clock has moved on."""
    from app.extensions import db
    from app.models import Enrollment

    with app.app_context():
        for e in db.session.query(Enrollment).filter_by(expert_id=expert_id):
            if e.paid_at:
                shift = dt.timedelta(days=2, minutes=1)
                e.paid_at, e.study_start = e.paid_at - shift, e.study_start - shift
        db.session.commit()
        db.session.remove()


def _studied(app, expert_id):
    from app.extensions import db
    from app.models import Enrollment

    with app.app_context():
        for e in db.session.query(Enrollment).filter_by(expert_id=expert_id):
            e.credited_seconds = 60
        db.session.commit()
        db.session.remove()


def test_pay_study_exam_pass(page, live_server, app, round_for, browser):
    from pyzbar.pyzbar import decode

    account = round_for("浏览器培训")
    _login(page, live_server, account)
    page.goto(f"{live_server}/training/")
    headers = [h.strip() for h in page.locator("#training-table th").all_inner_texts()]
    assert headers == ["序号", "课程名称", "学习开始时间", "学习结束时间", "学习进度", "批阅状态",
                       "是否补学", "培训完毕", "批阅时间", "操作"]
    expect(page.locator("#pager")).to_contain_text("共 1 条")
    shot(page, "20-my-training")
    page.click(".pay-link")
    assert page.inner_text("#pay-expert-no") == account.expert_no
    assert page.inner_text("#pay-amount") == "300.00"
    png = page.locator("#pay-qr").screenshot()
    url = decode(Image.open(io.BytesIO(png)))[0].data.decode()
    order_no = page.inner_text("#order-no")
    assert url.endswith(f"/payments/local/{order_no}")  # the QR code scans to the order
    shot(page, "21-pay-qr")

    staff_ctx = browser.new_context(locale="zh-CN")
    staff = staff_ctx.new_page()
    staff.goto(f"{live_server}/login/?login_kind=staff")
    staff.fill("#username", "testreviewer")
    staff.fill("#password", STAFF_PASSWORD)
    staff.click("button:has-text('登录')")
    staff.wait_for_url(lambda url: "/login" not in url)
    staff.goto(f"{live_server}/payments/reconcile/")
    path = f"/tmp/对账单-{account.expert_id}.xlsx"
    with open(path, "wb") as fh:
        fh.write(statement([(account.expert_no, "300.00", f"BANK-{order_no}", "")]))
    staff.set_input_files("#s-file", path)
    staff.click("#btn-reconcile")
    expect(staff.locator("#reconcile-result")).to_contain_text(f"已匹配：订单 {order_no}")
    shot(staff, "22-reconcile")
    staff_ctx.close()

    page.goto(f"{live_server}/training/")
    page.click(".study-link")
    expect(page.locator("body")).to_contain_text("天后即可进入培训，开放时间")
    _two_days_later(app, account.expert_id)
    page.goto(f"{live_server}/training/")
    page.click(".study-link")
    page.wait_for_url("**/study")
    assert page.locator("#lesson-video").count() == 1
    shot(page, "23-study")
    _studied(app, account.expert_id)
    page.goto(f"{live_server}/training/")
    page.click(".study-link")
    page.click("#btn-exam")
    page.check("input[value='对']")
    page.wait_for_timeout(300)  # the answer is saved as it is given
    shot(page, "24-exam")
    page.click("#btn-submit-exam")
    page.wait_for_url("**/training/")
    row = page.locator("#training-table tr[data-enrollment]").first.inner_text()
    assert "合格" in row and re.search(r"是\s+\d{4}-\d{2}-\d{2}", row)  # 培训完毕 = 是, 批阅时间
    shot(page, "25-passed")


def test_failing_expert_sees_makeup(page, live_server, app, round_for):
    account = round_for("浏览器补学")
    from app.extensions import db
    from app.models import Enrollment
    from app.services import payment

    with app.app_context():
        e = db.session.query(Enrollment).filter_by(expert_id=account.expert_id).first()
        if e is None:
            from app.models import Expert
            payment.ensure_enrollments(db.session, db.session.get(Expert, account.expert_id),
                                       utcnow())
            e = db.session.query(Enrollment).filter_by(expert_id=account.expert_id).first()
        payment.open_study(e, utcnow() - dt.timedelta(days=3))
        e.credited_seconds = 60
        db.session.commit()
        db.session.remove()
    _login(page, live_server, account)
    page.goto(f"{live_server}/training/")
    page.click(".study-link")
    page.click("#btn-exam")
    page.check("input[value='错']")
    page.click("#btn-submit-exam")
    page.wait_for_url("**/training/")
    text = page.inner_text("#training-table")
    assert "不合格" in text and "是" in text  # the make-up row: 是否补学 = 是
    assert page.locator(".pay-link").count() == 1  # its 缴费 button (the make-up fee)
    shot(page, "26-makeup")
