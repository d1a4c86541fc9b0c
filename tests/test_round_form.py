"""Item 16 of issue 11: 继续教育管理 → 培训批次 / 课程 / 课程资料 open, save and edit from the
screens. Times are typed and shown in 北京时间 and stored in UTC without microseconds."""
import datetime as dt
import io
import itertools
import json
import re

import pytest

from tests.conftest import login_staff, page_text
from tests.test_study_views import MP4

_names = itertools.count(1)


def unique_round_name(prefix: str = "批次") -> str:
    return f"2026年{prefix}{next(_names)}-{id(object()) % 100000}"


@pytest.fixture
def staff(app):
    client = app.test_client()
    login_staff(client, "testadmin")
    return client


def round_form(name: str, **overrides) -> dict:
    # a 入库批次 of its own: an active round enrols every matching expert of the other tests
    data = {"name": name, "admission_batches": f"无人批次{name}", "statuses": "已入库",
            "enroll_start": "2026-12-01T09:00", "enroll_end": "2026-12-31T18:30:15",
            "study_days": "30", "fee_fen": "300", "makeup_fee_fen": "100.00", "pass_mark": "60",
            "attempts_allowed": "2", "open_delay_days": "2", "active": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def stored_round(app, name: str):
    from app.extensions import db
    from app.models import TrainingRound

    with app.app_context():
        rnd = db.session.query(TrainingRound).filter_by(name=name).one_or_none()
        db.session.expunge_all()
        db.session.remove()
    return rnd


def input_value(html: str, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', html)
    if tag is None:
        return None
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


def test_item16_round_form_has_a_beijing_datetime_picker(staff):
    html = staff.get("/trainingroundadminview/add").get_data(True)
    for name in ("enroll_start", "enroll_end"):
        tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', html).group(0)
        assert 'type="datetime-local"' in tag and 'step="1"' in tag, tag
    # FAB's date-only picker (it strips the time) is not attached to these fields
    assert "appbuilder_datetime" not in html and "appbuilder_date" not in html
    text = page_text(staff.get("/trainingroundadminview/add"))
    assert "缴费开始时间（北京时间）" in text and "缴费结束时间（北京时间）" in text


def test_item16_round_form_in_english(app):
    client = app.test_client()
    login_staff(client, "testadmin")
    client.get("/lang/en")
    text = page_text(client.post("/trainingroundadminview/add", data=round_form(
        unique_round_name("英文"), enroll_start="2026-12-01", enroll_end="")))
    assert "Payment starts (Beijing time)" in text and "Payment ends (Beijing time)" in text
    assert "Please enter a date and time, e.g. 2026-12-01 09:00" in text
    assert "Please fill in Payment ends (Beijing time)" in text
    assert "seconds optional" in text


def test_item16_round_add_from_the_picker_stores_utc_without_microseconds(app, staff):
    name = unique_round_name()
    resp = staff.post("/trainingroundadminview/add", data=round_form(name))
    assert resp.status_code == 302, page_text(resp)
    rnd = stored_round(app, name)
    # 09:00 北京时间 is 01:00 UTC; seconds optional
    assert rnd.enroll_start == dt.datetime(2026, 12, 1, 1, 0, 0)
    assert rnd.enroll_end == dt.datetime(2026, 12, 31, 10, 30, 15)
    assert rnd.active is True


@pytest.mark.parametrize("typed, utc", [
    ("2026-12-01 09:00:00", dt.datetime(2026, 12, 1, 1, 0, 0)),
    ("2026-12-01 09:00", dt.datetime(2026, 12, 1, 1, 0, 0)),
    ("2026-12-01T09:00:07", dt.datetime(2026, 12, 1, 1, 0, 7)),
    # early morning in Beijing is the day before in UTC
    ("2026-12-01 07:30", dt.datetime(2026, 11, 30, 23, 30, 0)),
])
def test_item16_round_add_accepts_typed_times(app, staff, typed, utc):
    name = unique_round_name("手输")
    resp = staff.post("/trainingroundadminview/add",
                      data=round_form(name, enroll_start=typed, enroll_end="2026-12-31 18:00"))
    assert resp.status_code == 302, page_text(resp)
    rnd = stored_round(app, name)
    assert rnd.enroll_start == utc and rnd.enroll_end == dt.datetime(2026, 12, 31, 10, 0, 0)


def test_item16_inactive_round_can_be_saved(app, staff):
    name = unique_round_name("未启用")
    resp = staff.post("/trainingroundadminview/add", data=round_form(name, active=None))
    assert resp.status_code == 302, page_text(resp)
    assert stored_round(app, name).active is False


def test_item16_round_with_microseconds_edits_and_unchecks_active(app, staff):
    """The demo round (and every row written by the services) carries microseconds."""
    from app.extensions import db
    from app.models import TrainingRound

    name = unique_round_name("演示")
    with app.app_context():
        rnd = TrainingRound(name=name, admission_batches=f"无人批次{name}",
                            enroll_start=dt.datetime(2026, 3, 1, 2, 3, 4, 567891),
                            enroll_end=dt.datetime(2026, 3, 31, 15, 59, 59, 999999), fee_fen=30000,
                            active=True)
        db.session.add(rnd)
        db.session.commit()
        pk = rnd.id
        db.session.remove()
    html = staff.get(f"/trainingroundadminview/edit/{pk}").get_data(True)
    # shown in 北京时间 (UTC+8), without microseconds
    assert input_value(html, "enroll_start") == "2026-03-01T10:03:04"
    assert input_value(html, "enroll_end") == "2026-03-31T23:59:59"
    assert input_value(html, "fee_fen") == "300.00"  # kept in 分, edited in 元
    form = round_form(name, enroll_start=input_value(html, "enroll_start"),
                      enroll_end="2026-04-01T08:00", active=None)
    resp = staff.post(f"/trainingroundadminview/edit/{pk}", data=form)
    assert resp.status_code == 302, page_text(resp)
    rnd = stored_round(app, name)
    assert rnd.enroll_start == dt.datetime(2026, 3, 1, 2, 3, 4)
    assert rnd.enroll_end == dt.datetime(2026, 4, 1, 0, 0, 0)
    assert rnd.active is False
    assert (rnd.fee_fen, rnd.makeup_fee_fen) == (30000, 10000)


def test_item16_round_list_and_show_in_beijing_time_without_microseconds(app, staff):
    from app.extensions import db
    from app.models import TrainingRound

    name = unique_round_name("列表")
    with app.app_context():
        rnd = TrainingRound(name=name, admission_batches=f"无人批次{name}",
                            enroll_start=dt.datetime(2026, 5, 1, 16, 0, 0, 123456),
                            enroll_end=dt.datetime(2026, 5, 31, 1, 2, 3, 4), fee_fen=30000)
        db.session.add(rnd)
        db.session.commit()
        pk = rnd.id
        db.session.remove()
    text = page_text(staff.get(f"/trainingroundadminview/list/?_flt_0_name={name}"))
    assert "2026-05-02 00:00:00" in text and "2026-05-31 09:02:03" in text
    assert "123456" not in text and "2026-05-01 16:00" not in text
    text = page_text(staff.get(f"/trainingroundadminview/show/{pk}"))
    assert "2026-05-02 00:00:00" in text and "2026-05-31 09:02:03" in text
    assert "缴费开始时间（北京时间）" in text


@pytest.mark.parametrize("start, end, message", [
    ("2026-02-30 09:00", "2026-03-31 09:00", "日期或时间不存在"),
    ("2026-12-01", "2026-12-31 09:00", "请输入日期和时间"),
    ("明天九点", "2026-12-31 09:00", "请输入日期和时间"),
    ("2026-12-31 09:00", "2026-12-01 09:00", "缴费结束时间应晚于缴费开始时间"),
    ("", "2026-12-31 09:00", "请填写缴费开始时间"),
])
def test_item16_invalid_times_answer_in_chinese_and_keep_what_was_typed(app, staff, start, end,
                                                                        message):
    name = unique_round_name("错误")
    resp = staff.post("/trainingroundadminview/add",
                      data=round_form(name, enroll_start=start, enroll_end=end, active=None))
    assert resp.status_code == 200
    text = page_text(resp)
    assert message in text, text
    assert "不是有效的日期与时间值" not in text and "Not a valid" not in text
    html = resp.get_data(True)
    assert input_value(html, "name") == name
    # a valid time comes back as the picker reads it; an invalid one as it was typed
    for field, typed in (("enroll_start", start), ("enroll_end", end)):
        value = input_value(html, field)
        assert value in (typed, typed.replace(" ", "T") + (":00" if len(typed) == 16 else "")), value
    assert 'checked' not in re.search(r'<input[^>]*\bname="active"[^>]*>', html).group(0)
    assert stored_round(app, name) is None


def test_item16_course_form_opens_saves_and_edits(app, staff):
    from app.extensions import db
    from app.models import Course, TrainingRound

    name = unique_round_name("课程")
    staff.post("/trainingroundadminview/add", data=round_form(name))
    round_id = stored_round(app, name).id
    assert staff.get("/courseadminview/add").status_code == 200
    resp = staff.post("/courseadminview/add", data={
        "round": str(round_id), "name": "招标投标法律法规", "required_minutes": "180", "sort": "1"})
    assert resp.status_code == 302, page_text(resp)
    with app.app_context():
        course = db.session.query(Course).filter_by(round_id=round_id).one()
        pk = course.id
        db.session.remove()
    html = staff.get(f"/courseadminview/edit/{pk}").get_data(True)
    assert input_value(html, "name") == "招标投标法律法规"
    resp = staff.post(f"/courseadminview/edit/{pk}", data={
        "round": str(round_id), "name": "招标投标法律法规（修订）", "required_minutes": "120",
        "sort": "2"})
    assert resp.status_code == 302, page_text(resp)
    with app.app_context():
        course = db.session.get(Course, pk)
        assert (course.name, course.required_minutes, course.sort) == ("招标投标法律法规（修订）", 120, 2)
        assert db.session.get(TrainingRound, round_id).name == name
        db.session.remove()


def test_item16_lesson_form_opens_saves_and_edits(app, staff):
    from app.extensions import db
    from app.models import Course, Lesson

    name = unique_round_name("资料")
    staff.post("/trainingroundadminview/add", data=round_form(name))
    round_id = stored_round(app, name).id
    staff.post("/courseadminview/add", data={
        "round": str(round_id), "name": "评标纪律", "required_minutes": "60", "sort": "1"})
    with app.app_context():
        course_id = db.session.query(Course).filter_by(round_id=round_id).one().id
        db.session.remove()
    assert staff.get("/lessonadminview/add").status_code == 200
    resp = staff.post("/lessonadminview/add", data={
        "course": str(course_id), "title": "第一讲", "sort": "1",
        "upload": (io.BytesIO(MP4), "第一讲.mp4")}, content_type="multipart/form-data")
    assert resp.status_code == 302, page_text(resp)
    with app.app_context():
        lesson = db.session.query(Lesson).filter_by(course_id=course_id).one()
        pk, file_id = lesson.id, lesson.file_id
        db.session.remove()
    assert file_id is not None
    html = staff.get(f"/lessonadminview/edit/{pk}").get_data(True)
    assert input_value(html, "title") == "第一讲"
    resp = staff.post(f"/lessonadminview/edit/{pk}", data={
        "course": str(course_id), "title": "第一讲 评标纪律", "sort": "2"})
    assert resp.status_code == 302, page_text(resp)
    with app.app_context():
        lesson = db.session.get(Lesson, pk)
        assert (lesson.title, lesson.sort, lesson.file_id) == ("第一讲 评标纪律", 2, file_id)
        db.session.remove()


def test_item16_payment_orders_show_beijing_time_without_microseconds(app, staff, make_expert):
    from app.extensions import db
    from app.models import Course, Enrollment, Expert, ExpertStatus, PaymentOrder, TrainingRound

    account = make_expert("订单时间", status=ExpertStatus.ADMITTED)
    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        rnd = TrainingRound(name=unique_round_name("订单"), active=False,
                            enroll_start=dt.datetime(2026, 1, 1), enroll_end=dt.datetime(2026, 2, 1),
                            fee_fen=30000)
        enrollment = Enrollment(expert=expert, course=Course(round=rnd, name="订单课程"))
        order_no = f"T16{account.expert_id:010d}"
        db.session.add(PaymentOrder(order_no=order_no, enrollment=enrollment, expert_no="XJ1",
                                    amount_fen=30000, kind="培训费", status="已支付",
                                    created_at=dt.datetime(2026, 1, 5, 20, 15, 0, 654321),
                                    paid_at=dt.datetime(2026, 1, 5, 20, 16, 30, 1)))
        db.session.commit()
        db.session.remove()
    text = page_text(staff.get(f"/paymentorderadminview/list/?_flt_0_order_no={order_no}"))
    assert "2026-01-06 04:15:00" in text and "2026-01-06 04:16:30" in text
    assert "654321" not in text
    assert "下单时间（北京时间）" in text


def test_item16_payment_order_search_by_beijing_time(app, staff, make_expert):
    """下单时间 is searched in 北京时间 with the same picker (FAB's search field called a
    picker function its scripts lack, and compared the typed time with UTC)."""
    from app.extensions import db
    from app.models import Course, Enrollment, Expert, ExpertStatus, PaymentOrder, TrainingRound

    account = make_expert("订单查询", status=ExpertStatus.ADMITTED)
    expert_no = f"XJ16{account.expert_id:08d}"
    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        rnd = TrainingRound(name=unique_round_name("查询"), active=False,
                            enroll_start=dt.datetime(2026, 1, 1), enroll_end=dt.datetime(2026, 2, 1),
                            fee_fen=30000)
        enrollment = Enrollment(expert=expert, course=Course(round=rnd, name="查询课程"))
        db.session.add(PaymentOrder(order_no=f"S16{account.expert_id:010d}", enrollment=enrollment,
                                    expert_no=expert_no, amount_fen=30000, kind="培训费",
                                    created_at=dt.datetime(2026, 1, 5, 20, 15, 0, 654321)))
        db.session.commit()
        db.session.remove()
    # filter 0 is 晚于, 1 is 早于; 04:15:00 北京时间 is the order's time
    base = f"/paymentorderadminview/list/?_flt_0_expert_no={expert_no}"
    found = lambda query: expert_no in page_text(staff.get(base + query))  # noqa: E731
    assert found("&_flt_0_created_at=2026-01-06T04:14")
    assert not found("&_flt_0_created_at=2026-01-06T04:16")
    assert found("&_flt_1_created_at=2026-01-06 04:16:00")
    assert not found("&_flt_1_created_at=2026-01-06T04:14:59")
    html = staff.get(base).get_data(True)
    # the search widget's fields and filter names are written into the page as JSON
    assert "appbuilder_datetime" not in html and 'type=\\"datetime-local\\"' in html
    assert json.dumps("晚于")[1:-1] in html and json.dumps("早于")[1:-1] in html
