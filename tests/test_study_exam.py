"""Study crediting and the exam (issue #5, in progress), with a controlled clock."""
import datetime as dt
import random

import pytest

from app.models import ExpertStatus
from app.services import exam, study
from app.services.exam import ExamError

T0 = dt.datetime(2025, 6, 1, 9, 0)


@pytest.fixture
def course_setup(app, make_expert):
    from app.extensions import db
    from app.models import Course, Enrollment, Lesson, PaperRule, Question, TrainingRound

    account = make_expert("考试者", status=ExpertStatus.ADMITTED)
    with app.app_context():
        rnd = TrainingRound(name=f"考试批次{account.expert_id}", admission_batches="无", fee_fen=0,
                            makeup_fee_fen=0, enroll_start=T0, enroll_end=T0, pass_mark=60,
                            attempts_allowed=2, active=False)
        course = Course(round=rnd, name="专家知识课程", required_minutes=10)
        db.session.add(course)
        lesson = Lesson(course=course, title="第一讲")
        db.session.add(lesson)
        for i in range(4):
            db.session.add(Question(course=course, kind="单选", text=f"单选{i}",
                                    options="A. 是\nB. 否", answer="A"))
        for i in range(2):
            db.session.add(Question(course=course, kind="多选", text=f"多选{i}",
                                    options="A. 甲\nB. 乙\nC. 丙", answer="AC"))
        db.session.add(Question(course=course, kind="判断", text="判断", answer="对"))
        db.session.add(Question(course=course, kind="简答", text="简答", answer="要点"))
        db.session.add(PaperRule(course=course, single_count=3, single_score=20, multi_count=1,
                                 multi_score=20, judge_count=0, judge_score=0, short_count=0,
                                 short_score=0, time_limit_minutes=30))
        enrollment = Enrollment(expert_id=account.expert_id, course=course, attempt_no=1,
                                paid_at=T0, study_start=T0, study_end=T0 + dt.timedelta(days=9))
        db.session.add(enrollment)
        db.session.commit()
        ids = {"enrollment": enrollment.id, "lesson": lesson.id, "course": course.id}
        db.session.remove()
    return ids


def _enrollment(app, ids):
    from app.extensions import db
    from app.models import Enrollment

    return db.session.get(Enrollment, ids["enrollment"])


def _beater(session, enrollment):
    """The heartbeat's real path (the route's: beat_for_user on the request's session, then
    the request's commit), with session limits long enough for the controlled clock."""
    from app.services import sessions, unit_of_work
    from app.services.access import SessionLimits

    user_id = enrollment.expert.user_id
    token = sessions.start(session, user_id, None, T0)
    limits = SessionLimits(idle=dt.timedelta(days=1), absolute=dt.timedelta(days=1))

    def beat(lesson, position, visible, now):
        credited, _ = study.beat_for_user(study.SessionStatements(session), enrollment.id,
                                          user_id, token, lesson.id if lesson else None,
                                          position, visible, now, limits)
        unit_of_work.commit(session)
        return credited
    return beat


def test_credit_only_visible_real_time(app, course_setup):
    from app.extensions import db
    from app.models import Lesson

    with app.app_context():
        e = _enrollment(app, course_setup)
        lesson = db.session.get(Lesson, course_setup["lesson"])
        beat = _beater(db.session, e)
        assert beat(lesson, 0, True, T0) == 0  # the first beat starts
        db.session.refresh(e)
        assert beat(lesson, 30, True, T0 + dt.timedelta(seconds=30)) == 30
        db.session.refresh(e)
        # seeking to the end of the video earns nothing extra: only time counts
        assert beat(lesson, 5000, True, T0 + dt.timedelta(seconds=60)) == 30
        db.session.refresh(e)
        # hidden tab: nothing, and the next visible beat starts afresh
        assert beat(lesson, 90, False, T0 + dt.timedelta(seconds=90)) == 0
        db.session.refresh(e)
        assert beat(lesson, 90, True, T0 + dt.timedelta(seconds=120)) == 0
        db.session.refresh(e)
        # closed for an hour: the gap is not credited
        assert beat(lesson, 95, True, T0 + dt.timedelta(hours=1)) == 0
        db.session.refresh(e)
        # a replayed beat (same moment) earns nothing
        assert beat(lesson, 95, True, T0 + dt.timedelta(hours=1)) == 0
        db.session.refresh(e)
        assert e.credited_seconds == 60 and e.resume_position == 95
        assert e.resume_lesson_id == lesson.id
        assert study.progress_percent(e) == 10  # 60 s of 10 minutes
        db.session.remove()


def _study_to_full(app, ids):
    from app.extensions import db

    with app.app_context():
        e = _enrollment(app, ids)
        e.credited_seconds = e.course.required_minutes * 60
        db.session.commit()
        db.session.remove()


@pytest.mark.commits  # heartbeats through the front, and a second connection
def test_exam_needs_full_progress_then_draws_a_timed_paper(app, course_setup):
    from app.extensions import db

    with app.app_context():
        with pytest.raises(ExamError, match="100%"):
            exam.start(db.session, _enrollment(app, course_setup), T0)
        db.session.remove()
    _study_to_full(app, course_setup)
    with app.app_context():
        e = _enrollment(app, course_setup)
        attempt = exam.start(db.session, e, T0, random.Random(1))
        questions = exam.paper(db.session, attempt)
        assert [q.kind for q in questions] == ["单选", "单选", "单选", "多选"]
        assert attempt.deadline == T0 + dt.timedelta(minutes=30)
        assert exam.start(db.session, e, T0 + dt.timedelta(minutes=5)).id == attempt.id  # resumes
        db.session.commit()
        # the same answer saved at once through another connection (a retry racing the first
        # save): the upsert takes the row over instead of failing on the unique key
        from app.models import ExamAnswer

        with db.engine.begin() as other:
            other.execute(ExamAnswer.__table__.insert().values(
                attempt_id=attempt.id, question_id=questions[1].id, answer="D", max_points=0))
        for q in questions:
            exam.save_answer(db.session, attempt, q.id, "A" if q.kind == "单选" else "C,A", T0)
        exam.save_answer(db.session, attempt, questions[0].id, "B", T0)  # changed its mind
        rows = db.session.query(ExamAnswer).filter_by(attempt_id=attempt.id,
                                                       question_id=questions[1].id).all()
        assert [r.answer for r in rows] == ["A"]
        db.session.commit()
        assert exam.submit(db.session, attempt, T0 + dt.timedelta(minutes=10)) is True
        assert exam.submit(db.session, attempt, T0 + dt.timedelta(minutes=10)) is False  # double
        db.session.commit()
        db.session.refresh(e)
        assert attempt.status == "合格" and attempt.score == 60
        assert e.review_status == "合格" and e.completed and e.graded_at
        with pytest.raises(ExamError, match="已合格"):
            exam.start(db.session, e, T0 + dt.timedelta(minutes=11))
        with pytest.raises(ExamError, match="已结束"):
            exam.save_answer(db.session, attempt, questions[0].id, "A", T0 + dt.timedelta(minutes=12))
        db.session.remove()


def test_short_answers_wait_for_grading_and_failing_twice_opens_makeup(app, course_setup):
    from app.extensions import db
    from app.models import Enrollment, PaperRule

    _study_to_full(app, course_setup)
    with app.app_context():
        rule = db.session.query(PaperRule).filter_by(course_id=course_setup["course"]).one()
        rule.short_count, rule.short_score = 1, 40
        db.session.commit()
        e = _enrollment(app, course_setup)
        first = exam.start(db.session, e, T0, random.Random(2))
        exam.submit(db.session, first, T0 + dt.timedelta(minutes=1))  # nothing answered
        db.session.commit()
        assert first.status == "待批阅" and e.review_status == "待批阅"
        short = next(a for a in first.answers if a.question.kind == "简答")
        with pytest.raises(ExamError, match="之间"):
            exam.grade_short(db.session, short, 41, 1, T0)
        exam.grade_short(db.session, short, 10, 1, T0 + dt.timedelta(hours=1))
        db.session.commit()
        assert first.status == "不合格" and e.review_status == "不合格" and not e.completed
        assert db.session.query(Enrollment).filter_by(course_id=course_setup["course"]).count() == 1
        # the second attempt runs out of time: handed in as it stands when asked again
        second = exam.start(db.session, e, T0 + dt.timedelta(hours=2), random.Random(3))
        late = T0 + dt.timedelta(hours=3)
        with pytest.raises(ExamError):
            exam.start(db.session, e, late)
        db.session.commit()
        db.session.refresh(second)
        assert second.status in ("待批阅", "不合格")
        short2 = next(a for a in second.answers if a.question.kind == "简答")
        exam.grade_short(db.session, short2, 0, 1, late)
        db.session.commit()
        makeup = db.session.query(Enrollment).filter_by(course_id=course_setup["course"],
                                                         attempt_no=2).one()
        assert makeup.is_makeup and makeup.study_start is not None  # no make-up fee: open now
        db.session.remove()


def test_enrolment_result_follows_its_graded_attempt_only(app, course_setup):
    """批阅状态: set from a graded attempt (合格 / 不合格), refused for an attempt still 进行中
    or 待批阅, and 合格 is final."""
    from app.extensions import db
    from app.models import AttemptStatus, ExamAttempt, ReviewStatus
    from app.services.errors import DomainError

    _study_to_full(app, course_setup)
    with app.app_context():
        e = _enrollment(app, course_setup)
        attempt = exam.start(db.session, e, T0, random.Random(4))
        assert attempt.is_running and e.review_status == ReviewStatus.PENDING
        for status in (AttemptStatus.IN_PROGRESS, AttemptStatus.PENDING):
            attempt.status = status.value
            with pytest.raises(ExamError, match="尚未批阅") as refused:
                exam.record_result(db.session, e, attempt, T0)
            assert isinstance(refused.value, DomainError)
            assert e.review_status == ReviewStatus.PENDING and not e.completed
        attempt.status = AttemptStatus.PASSED.value
        exam.record_result(db.session, e, attempt, T0)
        assert e.review_status == ReviewStatus.PASSED and e.completed and e.graded_at == T0
        other = ExamAttempt(enrollment=e, question_ids="[]", started_at=T0, deadline=T0,
                            status=AttemptStatus.FAILED.value)
        with pytest.raises(ExamError, match="已合格"):
            exam.record_result(db.session, e, other, T0)
        assert e.review_status == ReviewStatus.PASSED
        db.session.rollback()
        db.session.remove()
