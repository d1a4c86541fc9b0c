"""Study and exam through the screens (issue #5, in progress)."""
import datetime as dt
import io
import re

import pytest

from app.models import ExpertStatus, utcnow
from tests.conftest import login_expert, login_staff, page_text
from tests.test_uploads import pdf

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 4000


@pytest.fixture
def learner(app, make_expert):
    from app.extensions import db
    from app.models import Course, Enrollment, Lesson, PaperRule, Question, TrainingRound
    from app.services import uploads

    account = make_expert("学习者", status=ExpertStatus.ADMITTED)
    with app.app_context():
        now = utcnow()
        rnd = TrainingRound(name=f"学习批次{account.expert_id}", admission_batches="无", fee_fen=100,
                            enroll_start=now, enroll_end=now, pass_mark=60, attempts_allowed=1,
                            makeup_fee_fen=5000, active=False)
        course = Course(round=rnd, name="系统使用教学课程", required_minutes=1)
        video = uploads.store(db.session, owner_id=None, kind_name="lesson", filename="第一讲.mp4",
                              data=MP4, upload_dir=app.config["UPLOAD_FOLDER"])
        slides = uploads.store(db.session, owner_id=None, kind_name="lesson", filename="课件.pdf",
                               data=pdf(), upload_dir=app.config["UPLOAD_FOLDER"])
        db.session.add_all([Lesson(course=course, title="第一讲", file=video, sort=1),
                            Lesson(course=course, title="课件", file=slides, sort=2)])
        db.session.add(Question(course=course, kind="判断", text="评标专家应回避本单位项目", answer="对"))
        db.session.add(Question(course=course, kind="简答", text="简述回避情形", answer="本单位"))
        db.session.add(PaperRule(course=course, judge_count=1, judge_score=50, short_count=1,
                                 short_score=50, time_limit_minutes=20))
        paid = now - dt.timedelta(days=2, minutes=5)
        e = Enrollment(expert_id=account.expert_id, course=course, paid_at=paid,
                       study_start=paid + dt.timedelta(days=2), study_end=now + dt.timedelta(days=5))
        db.session.add(e)
        db.session.commit()
        account.enrollment = e.id
        db.session.remove()
    return account


@pytest.mark.commits  # heartbeats through the front's own connection
def test_study_page_video_range_and_heartbeat_with_csrf(app, learner):
    from app.extensions import db
    from app.models import Enrollment

    client = app.test_client()
    login_expert(client, learner)
    html = client.get(f"/training/{learner.enrollment}/study").get_data(True)
    assert 'id="lesson-video"' in html and "第一讲" in html and "课件" in html
    media = re.search(r'src="(/training/\d+/lesson/\d+/media)"', html).group(1)
    part = client.get(media, headers={"Range": "bytes=0-15"})
    assert part.status_code == 206 and part.data == MP4[:16]
    assert part.headers["Content-Range"].startswith("bytes 0-15/")

    app.config["WTF_CSRF_ENABLED"] = True
    try:
        token = re.search(r'data-csrf="([^"]+)"', html).group(1)
        url = f"/training/{learner.enrollment}/heartbeat"
        assert client.post(url, json={"visible": True}).status_code == 400  # no token
        body = {"lesson_id": re.search(r'data-lesson="(\d+)"', html).group(1), "visible": True,
                "position": 12}
        assert client.post(url, json=body, headers={"X-CSRFToken": token}).json["credited"] == 0
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        e = db.session.get(Enrollment, learner.enrollment)
        e.last_beat_at = utcnow() - dt.timedelta(seconds=30)
        db.session.commit()
        db.session.remove()
    beat = client.post(f"/training/{learner.enrollment}/heartbeat", json=body).json
    # the real 30 s since the last beat (a slow machine may add a few): no more, no less
    assert 30 <= beat["credited"] <= 40 and beat["progress"] == beat["credited"] * 100 // 60
    html = client.get(f"/training/{learner.enrollment}/study").get_data(True)
    assert 'data-resume="12"' in html


def test_exam_answer_submit_grade_and_makeup(app, learner):
    from app.extensions import db
    from app.models import Enrollment

    client = app.test_client()
    login_expert(client, learner)
    resp = client.get(f"/training/{learner.enrollment}/exam", follow_redirects=True)
    assert "100%" in page_text(resp)  # not yet studied enough
    with app.app_context():
        db.session.get(Enrollment, learner.enrollment).credited_seconds = 60
        db.session.commit()
        db.session.remove()
    html = client.get(f"/training/{learner.enrollment}/exam").get_data(True)
    questions = re.findall(r'data-question="(\d+)"', html)
    assert len(questions) == 2 and "交卷" in html
    judge = next(q for q in questions if f'name="q{q}" value="对"' in html)
    short = next(q for q in questions if q != judge)
    saved = client.post(f"/training/{learner.enrollment}/exam/answer",
                        json={"question_id": int(judge), "answer": "对"})
    assert saved.json["saved"] is True
    resp = client.post(f"/training/{learner.enrollment}/exam/submit",
                       data={f"q{short}": "与本人单位有利害关系的应回避"})
    assert resp.status_code == 302
    again = client.post(f"/training/{learner.enrollment}/exam/submit", data={f"q{short}": "第二次提交的内容"})
    assert again.status_code == 302
    text = page_text(client.get("/training/"))
    assert "待批阅" in text

    staff = app.test_client()
    login_staff(staff)
    page = staff.get("/grading/").get_data(True)
    assert "与本人单位有利害关系的应回避" in page and "第二次提交的内容" not in page
    answer_id = re.search(r'data-answer="(\d+)"', page).group(1)
    assert "之间" in page_text(staff.post("/grading/", data={"answer_id": answer_id, "points": "99"}))
    staff.post("/grading/", data={"answer_id": answer_id, "points": "0"})
    text = page_text(client.get("/training/"))
    assert "不合格" in text and "缴费" in text  # the make-up row waits for its fee
    with app.app_context():
        rows = db.session.query(Enrollment).filter_by(expert_id=learner.expert_id).all()
        assert sorted(r.attempt_no for r in rows) == [1, 2]
        db.session.remove()


def test_staff_uploads_a_lesson_video(app, learner):
    staff = app.test_client()
    login_staff(staff)
    from app.extensions import db
    from app.models import Course
    with app.app_context():
        course_id = db.session.query(Course).filter_by(name="系统使用教学课程").first().id
        db.session.remove()
    resp = staff.post("/lessonadminview/add", data={
        "course": str(course_id), "title": "第二讲", "sort": "3",
        "upload": (io.BytesIO(MP4), "第二讲.mp4")}, content_type="multipart/form-data")
    assert resp.status_code == 302
    resp = staff.post("/lessonadminview/add", data={
        "course": str(course_id), "title": "坏文件", "sort": "4",
        "upload": (io.BytesIO(b"<html>"), "坏.mp4")}, content_type="multipart/form-data")
    assert "文件类型不符" in page_text(resp)


def test_training_history_tab_lists_every_round(app, learner):
    client = app.test_client()
    login_expert(client, learner)
    html = client.get("/expert/").get_data(True)
    history = html.split('id="training-history"')[1].split("</table>")[0]
    assert f"学习批次{learner.expert_id}" in history and "系统使用教学课程" in history
    assert "待批阅" in history


@pytest.mark.commits  # heartbeats through the front's own connection
def test_heartbeat_checks_session_and_password_itself(app, learner):
    """The heartbeat skips the general guards: its own query must refuse the same things."""
    from app.extensions import db
    from app.models import AppUser, UserSession

    client = app.test_client()
    login_expert(client, learner)
    url = f"/training/{learner.enrollment}/heartbeat"
    assert client.post(url, json={"visible": True}).status_code == 200
    saved = client.get_cookie("session").value
    # idle for 31 minutes: refused, and the session is ended for good
    with app.app_context():
        for row in db.session.query(UserSession).filter_by(user_id=learner.user_id, ended_at=None):
            row.last_seen_at = utcnow() - dt.timedelta(minutes=31)
        db.session.commit()
        db.session.remove()
    resp = client.post(url, json={"visible": True})
    assert resp.status_code == 401 and "30分钟" in resp.json["message"]
    assert client.post(url, json={"visible": True}).status_code == 401
    # signed in again, then logged out: the copied cookie is refused
    login_expert(client, learner)
    saved = client.get_cookie("session").value
    client.post("/logout/")
    thief = app.test_client()
    thief.set_cookie("session", saved)
    assert thief.post(url, json={"visible": True}).status_code == 401
    # a default password not yet changed: refused until it is
    login_expert(client, learner)
    with app.app_context():
        db.session.get(AppUser, learner.user_id).must_change_password = True
        db.session.commit()
        db.session.remove()
    assert client.post(url, json={"visible": True}).status_code == 403
    assert app.test_client().post(url, json={"visible": True}).status_code == 401
