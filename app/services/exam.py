"""The exam: at 100 % progress a paper is drawn per the course's rules, timed on the
server, answers saved as they are given, submitted once; objective questions graded at
once, 简答 by staff; 合格 / 不合格 by the round's pass mark; 不合格 leads to 补学.

Two state machines, their transitions written here once:

- the attempt (``AttemptStatus``): 进行中 → 待批阅 (``submit``) → 合格 / 不合格
  (``finish_if_graded``, once every answer has points);
- the enrolment's 批阅状态 (``ReviewStatus``): 待批阅 → 合格 / 不合格 (``record_result``,
  from its attempt's result).

Nothing here commits: the request (or the job) does.
"""
from __future__ import annotations

import datetime as dt
import json
import random

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import (
    AttemptStatus,
    Course,
    Enrollment,
    ExamAnswer,
    ExamAttempt,
    PaperRule,
    Question,
    ReviewStatus,
)
from app.services.errors import DomainError, NotFound
from app.services.payment import open_study, study_gate
from app.services.study import progress_percent

KINDS = (("单选", "single"), ("多选", "multi"), ("判断", "judge"), ("简答", "short"))
SHORT = "简答"  # graded by staff, not at once
GRACE = dt.timedelta(seconds=30)  # a submission sent at the last second still arrives
# The attempt's results and the 批阅状态 they give the enrolment.
RESULTS = {AttemptStatus.PASSED: ReviewStatus.PASSED, AttemptStatus.FAILED: ReviewStatus.FAILED}


class ExamError(DomainError):
    """The exam refused: not open yet, already handed in or passed, out of time, a score
    out of range."""


def available(enrollment: Enrollment, now: dt.datetime) -> bool:
    """考试 is offered: study open, 学习进度 100 %, not passed yet."""
    return (study_gate(enrollment, now) is None and progress_percent(enrollment) >= 100
            and not enrollment.completed)


def current_attempt(session: Session, enrollment: Enrollment) -> ExamAttempt | None:
    return session.execute(
        select(ExamAttempt).where(ExamAttempt.enrollment_id == enrollment.id)
        .order_by(ExamAttempt.id.desc())).scalars().first()


def load_current_attempt(session: Session, enrollment: Enrollment) -> ExamAttempt:
    """The latest attempt of an enrolment already loaded through its owner check
    (``access.load_enrollment``); none yet is a 404."""
    attempt = current_attempt(session, enrollment)
    if attempt is None:
        raise NotFound()
    return attempt


def start(session: Session, enrollment: Enrollment, now: dt.datetime,
          rng: random.Random | None = None) -> ExamAttempt:
    """The running attempt, or a new paper drawn at random per the course's rules."""
    if progress_percent(enrollment) < 100:
        raise ExamError("学习进度达到 100% 后才能考试")
    last = current_attempt(session, enrollment)
    if last is not None and last.is_running:
        if now <= last.deadline + GRACE:
            return last
        if not submit(session, last, now):  # time ran out: handed in as it stands
            session.refresh(last)  # handed in meanwhile by another request: its state
    if last is not None and last.status == AttemptStatus.PENDING:
        raise ExamError("本课程考试已提交")
    if last is not None and last.status == AttemptStatus.PASSED:
        raise ExamError("本课程考试已合格")
    rnd = enrollment.course.round
    used = session.execute(select(ExamAttempt.id).where(
        ExamAttempt.enrollment_id == enrollment.id)).all()
    if len(used) >= rnd.attempts_allowed:
        raise ExamError(f"考试次数已用完（共 {rnd.attempts_allowed} 次），请补学")
    rule = session.execute(select(PaperRule).where(
        PaperRule.course_id == enrollment.course_id)).scalar_one_or_none()
    if rule is None:
        raise ExamError("本课程尚未设置试卷规则，请联系管理人员")
    rng = rng or random.SystemRandom()
    chosen: list[int] = []
    for kind, key in KINDS:
        count = getattr(rule, f"{key}_count")
        pool = session.execute(select(Question.id).where(
            Question.course_id == enrollment.course_id, Question.kind == kind)).scalars().all()
        if len(pool) < count:
            raise ExamError("题库题目不足，请联系管理人员")
        chosen += rng.sample(sorted(pool), count)
    attempt = ExamAttempt(enrollment=enrollment, question_ids=json.dumps(chosen), started_at=now,
                          deadline=now + dt.timedelta(minutes=rule.time_limit_minutes),
                          status=AttemptStatus.IN_PROGRESS.value)
    session.add(attempt)
    session.flush()
    return attempt


def paper(session: Session, attempt: ExamAttempt) -> list[Question]:
    ids = json.loads(attempt.question_ids)
    by_id = {q.id: q for q in session.execute(select(Question).where(Question.id.in_(ids))).scalars()}
    return [by_id[i] for i in ids if i in by_id]


def _normalise(kind: str, answer: str | None) -> str:
    text = (answer or "").strip()
    if kind in ("单选", "多选"):
        return "".join(sorted(set(text.upper().replace(",", "").replace(" ", ""))))
    return text


def save_answer(session: Session, attempt: ExamAttempt, question_id: int, answer: str,
                now: dt.datetime) -> None:
    """Saved as given: a dropped connection loses nothing."""
    if not attempt.is_running or now > attempt.deadline + GRACE:
        raise ExamError("考试已结束，答案未保存")
    if question_id not in json.loads(attempt.question_ids):
        raise ExamError("题目不在本次试卷中")
    # One upsert: two saves of the same answer arriving at once (a double click, a retry after
    # a dropped connection) both land, the later one wins, neither fails on the unique key.
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
              else sqlite.insert)
    stmt = insert(ExamAnswer).values(attempt_id=attempt.id, question_id=question_id,
                                     answer=answer, max_points=0)
    stmt = stmt.on_conflict_do_update(index_elements=["attempt_id", "question_id"],
                                      set_={"answer": stmt.excluded.answer}).returning(ExamAnswer)
    session.scalars(stmt, execution_options={"populate_existing": True}).one()
    session.expire(attempt, ["answers"])


def _scores(rule: PaperRule) -> dict[str, int]:
    return {kind: getattr(rule, f"{key}_score") for kind, key in KINDS}


def submit(session: Session, attempt: ExamAttempt, now: dt.datetime) -> bool:
    """进行中 → 待批阅, once: True when this call submitted it, False for a repeated submit.
    The objective answers are graded at once; with no 简答 the result follows."""
    changed = session.execute(
        update(ExamAttempt).where(ExamAttempt.id == attempt.id,
                                  ExamAttempt.status == AttemptStatus.IN_PROGRESS)
        .values(status=AttemptStatus.PENDING.value,
                submitted_at=min(now, attempt.deadline + GRACE))
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:  # someone else got there first: nothing to do
        return False
    session.refresh(attempt)
    enrollment = attempt.enrollment
    rule = session.execute(select(PaperRule).where(
        PaperRule.course_id == enrollment.course_id)).scalar_one()
    scores = _scores(rule)
    given = {a.question_id: a for a in attempt.answers}
    for question in paper(session, attempt):
        row = given.get(question.id)
        if row is None:
            row = ExamAnswer(attempt=attempt, question_id=question.id, answer="")
            session.add(row)
        row.max_points = scores[question.kind]
        if question.kind != SHORT:
            right = _normalise(question.kind, row.answer) == _normalise(question.kind, question.answer)
            row.points = row.max_points if right else 0
            row.graded_at = now
    session.flush()
    finish_if_graded(session, attempt, now)
    return True


def grade_short(session: Session, answer: ExamAnswer, points: int, grader_id: int,
                now: dt.datetime) -> None:
    if answer.question.kind != SHORT:
        raise ExamError("只有简答题需要批阅")
    if not 0 <= points <= answer.max_points:
        raise ExamError(f"分数应在 0 到 {answer.max_points} 之间")
    answer.points, answer.graded_by_id, answer.graded_at = points, grader_id, now
    session.flush()
    finish_if_graded(session, answer.attempt, now)


def finish_if_graded(session: Session, attempt: ExamAttempt, now: dt.datetime) -> None:
    """待批阅 → 合格 / 不合格 when every answer has points (by the round's pass mark), and
    the enrolment's 批阅状态 with it; 不合格 opens 补学. Not yet graded: nothing changes."""
    if attempt.status != AttemptStatus.PENDING or any(a.points is None for a in attempt.answers):
        return
    enrollment = attempt.enrollment
    attempt.score = sum(a.points for a in attempt.answers)
    passed = attempt.score >= enrollment.course.round.pass_mark
    attempt.status = (AttemptStatus.PASSED if passed else AttemptStatus.FAILED).value
    attempt.graded_at = now
    record_result(session, enrollment, attempt, now)


def record_result(session: Session, enrollment: Enrollment, attempt: ExamAttempt,
                  now: dt.datetime) -> None:
    """The enrolment's 批阅状态 from its graded attempt: 合格 (培训完毕 = 是) or 不合格
    (补学 opens when no attempt is left); 不合格 may become 合格 with the next attempt, 合格
    is final. Refused for an attempt not graded yet, or of another enrolment."""
    result = RESULTS.get(AttemptStatus(attempt.status))
    if result is None or attempt.enrollment_id not in (None, enrollment.id):
        raise ExamError("考试尚未批阅完毕")
    if enrollment.review_status == ReviewStatus.PASSED:
        raise ExamError("本课程考试已合格")
    enrollment.review_status = result.value
    enrollment.graded_at = now
    enrollment.completed = result == ReviewStatus.PASSED
    if not enrollment.completed:
        open_makeup(session, enrollment, now)


def open_makeup(session: Session, enrollment: Enrollment, now: dt.datetime) -> Enrollment | None:
    """补学: a new row for the course (是否补学 = 是) when no attempt is left; with a make-up
    fee it waits for 缴费, without one it opens at once."""
    rnd = enrollment.course.round
    used = session.execute(select(ExamAttempt.id).where(
        ExamAttempt.enrollment_id == enrollment.id)).all()
    if len(used) < rnd.attempts_allowed:
        return None  # another attempt is left on this row
    exists = session.execute(select(Enrollment).where(
        Enrollment.expert_id == enrollment.expert_id, Enrollment.course_id == enrollment.course_id,
        Enrollment.attempt_no == enrollment.attempt_no + 1)).scalar_one_or_none()
    if exists is not None:
        return exists
    makeup = Enrollment(expert_id=enrollment.expert_id, course_id=enrollment.course_id,
                        attempt_no=enrollment.attempt_no + 1, created_at=now)
    session.add(makeup)
    if rnd.makeup_fee_fen == 0:
        makeup.course = enrollment.course
        open_study(makeup, now - dt.timedelta(days=rnd.open_delay_days))
    session.flush()
    return makeup


def passed_rounds(session: Session, expert_id: int) -> list[int]:
    """Rounds in which the expert passed the exam of every course (培训完毕 = 是 on each)."""
    passed = session.execute(
        select(Course.round_id, Course.id).join(Enrollment, Enrollment.course_id == Course.id)
        .where(Enrollment.expert_id == expert_id, Enrollment.completed.is_(True))).all()
    done: dict[int, set[int]] = {}
    for round_id, course_id in passed:
        done.setdefault(round_id, set()).add(course_id)
    rounds = []
    for round_id, courses in done.items():
        total = session.execute(select(Course.id).where(Course.round_id == round_id)).all()
        if len(courses) >= len(total):
            rounds.append(round_id)
    return sorted(rounds)


def training_passed(session: Session, expert_id: int) -> bool:
    """继续教育 and its exam are passed: what 异动申请 and some of 修改 wait for."""
    return bool(passed_rounds(session, expert_id))
