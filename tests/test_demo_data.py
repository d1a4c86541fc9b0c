"""`flask demo-data` makes a round a newcomer can study: the demo expert (maimaitiaili) sees it
in 我的培训, pays (confirmed by the reviewer by hand, as the local stand-in has no real
cashier), opens the PDF and the video lesson, and can start the exam; the question bank
satisfies each course's paper rules."""
import io

import pypdf
import pytest

from app.services.demo import DEMO_PASSWORD_EXPERT, DEMO_STUDY_ROUND
from tests.conftest import login, login_staff

DEMO_EXPERT = "maimaitiaili"


@pytest.fixture
def demo(app):
    result = app.test_cli_runner().invoke(args=["demo-data", "--experts", "0"])
    assert result.exit_code == 0, result.output
    assert DEMO_STUDY_ROUND in result.output
    return result


def _study_rows(app):
    from app.extensions import db
    from app.models import Course, Enrollment, Expert, TrainingRound

    with app.app_context():
        expert = db.session.query(Expert).filter_by(id_number="652101198203104514").one()
        rows = (db.session.query(Enrollment).join(Course).join(TrainingRound)
                .filter(Enrollment.expert_id == expert.id, TrainingRound.name == DEMO_STUDY_ROUND)
                .order_by(Course.sort).all())
        return [(e.id, e.course_id) for e in rows]


def test_demo_round_has_lessons_bank_and_rules(app, demo):
    from app.extensions import db
    from app.models import PaperRule, Question, TrainingRound
    from app.services.exam import KINDS

    with app.app_context():
        rnd = db.session.query(TrainingRound).filter_by(name=DEMO_STUDY_ROUND).one()
        assert rnd.active and rnd.open_delay_days == 0
        assert len(rnd.courses) == 2
        for course in rnd.courses:
            types = sorted(lesson.file.content_type for lesson in course.lessons)
            assert types == ["application/pdf", "video/mp4"]
            rule = db.session.query(PaperRule).filter_by(course_id=course.id).one()
            total = 0
            for kind, key in KINDS:
                need = getattr(rule, f"{key}_count")
                have = db.session.query(Question).filter_by(course_id=course.id, kind=kind).count()
                assert need >= 1 and have >= need, (course.name, kind, have, need)
                total += need * getattr(rule, f"{key}_score")
            assert total == 100
    # running it again adds nothing
    again = app.test_cli_runner().invoke(args=["demo-data", "--experts", "0"])
    assert again.exit_code == 0, again.output
    with app.app_context():
        assert db.session.query(TrainingRound).filter_by(name=DEMO_STUDY_ROUND).count() == 1


def test_demo_expert_pays_studies_and_starts_the_exam(app, demo):
    from app.extensions import db
    from app.models import Enrollment, Lesson, PaymentOrder

    expert = app.test_client()
    resp = login(expert, DEMO_EXPERT, DEMO_PASSWORD_EXPERT)
    assert resp.status_code == 302, resp.data[:300]
    page = expert.get("/training/").get_data(as_text=True)
    assert "招标投标法律法规要点" in page and "评标专家职业道德与评标纪律" in page
    (enrollment_id, course_id), _second = _study_rows(app)
    assert f"/training/{enrollment_id}/pay" in page
    # before payment: no lesson is served
    with app.app_context():
        lessons = db.session.query(Lesson).filter_by(course_id=course_id).order_by(Lesson.sort).all()
        pdf_id, video_id = lessons[0].id, lessons[1].id
    assert expert.get(f"/training/{enrollment_id}/lesson/{pdf_id}/media").status_code == 403

    assert expert.get(f"/training/{enrollment_id}/pay").status_code == 200
    with app.app_context():
        order_no = db.session.query(PaymentOrder).filter_by(enrollment_id=enrollment_id).one().order_no
    staff = app.test_client()
    login_staff(staff)
    resp = staff.post("/payments/reconcile/", data={
        "what": "manual", "m-order_no": order_no, "m-reference": "DEMO-RECEIPT-1"})
    assert resp.status_code == 302, resp.data[:500]

    # open at once (the demo round opens 0 days after payment)
    study = expert.get(f"/training/{enrollment_id}/study")
    assert study.status_code == 200
    html = study.get_data(as_text=True)
    assert "（课件）" in html and "（视频）" in html and 'id="lesson-pdf"' in html
    pdf = expert.get(f"/training/{enrollment_id}/lesson/{pdf_id}/media")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-") and len(pdf.data) < 1_000_000
    video = expert.get(f"/training/{enrollment_id}/lesson/{video_id}/media",
                       headers={"Range": "bytes=0-99"})
    assert video.status_code == 206 and video.mimetype == "video/mp4" and len(video.data) == 100
    assert b"ftyp" in video.data[:12]
    assert 'id="lesson-video"' in expert.get(
        f"/training/{enrollment_id}/study?lesson={video_id}").get_data(as_text=True)

    # studied for the course's minutes (the clock, not a person, does that): the exam starts
    with app.app_context():
        e = db.session.get(Enrollment, enrollment_id)
        e.credited_seconds = e.course.required_minutes * 60
        db.session.commit()
    exam = expert.get(f"/training/{enrollment_id}/exam")
    assert exam.status_code == 200, exam.data[:300]
    assert exam.get_data(as_text=True).count('class="panel panel-default question"') == 9


def test_demo_lesson_pdf_has_cjk_text():
    from app.services.demo import DEMO_QUESTIONS, lesson_pdf

    name, questions = next(iter(DEMO_QUESTIONS.items()))
    data = lesson_pdf(name, questions)
    assert data.startswith(b"%PDF-")
    text = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert name in text and "答：20日" in text  # CJK text, not boxes
