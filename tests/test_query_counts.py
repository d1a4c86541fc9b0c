"""How many statements the busiest pages send, with few rows and with many: the count may
not grow with the rows (no query per row: each relation a page shows is loaded in one
statement), and stays under a bound, so a change that adds queries is seen here first.

Each page is asked twice and the second answer counted: the first fills what the app keeps
between requests (the list's row count, the enrolments made on the first visit to 我的培训),
as it is for nearly every request in service."""
from __future__ import annotations

import datetime as dt
import itertools

from app.models import ExpertStatus, utcnow
from tests.conftest import login_expert, login_staff, open_round_for

FEW, MANY = 3, 30

# Upper bounds: what the pages send today (main, issue 12 foundations), whatever the rows.
STAFF_LIST_MAX = 13
EXPERT_HOME_MAX = 24  # +1: 系统设置's rows, read once per request for the session limits
MY_TRAINING_MAX = 17
REVIEW_MAX = 38

_files = itertools.count(1)


def _counted(client, count_queries, url: str) -> tuple[int, list[str]]:
    first = client.get(url)
    assert first.status_code == 200, first.data[:300]
    with count_queries() as counted:
        resp = client.get(url)
    assert resp.status_code == 200, resp.data[:300]
    return counted.count, counted.statements


def _stored_file(session, owner_id: int, kind: str):
    from app.models import StoredFile

    n = next(_files)
    stored = StoredFile(owner_id=owner_id, kind=kind, original_name=f"证明{n}.pdf",
                        stored_name=f"query-count-{n}-{owner_id}.pdf", size=10, sha256="0" * 64,
                        content_type="application/pdf")
    session.add(stored)
    return stored


def add_profile_rows(app, expert_id: int, n: int) -> None:
    """``n`` more rows in every tab of the expert's profile, files included."""
    from app.extensions import db
    from app.models import (
        Attachment,
        AvoidanceUnit,
        BankAccount,
        Degree,
        Education,
        EducationLevel,
        EvaluationExperience,
        Expert,
        Expertise,
        Qualification,
        ReviewRecord,
        Specialty,
        TitleLevel,
        TrainingRecord,
        WorkExperience,
    )

    with app.app_context():
        s = db.session
        expert = s.get(Expert, expert_id)
        level, degree = s.query(EducationLevel).first(), s.query(Degree).first()
        title_level = s.query(TitleLevel).first()
        start = dt.date(1995, 9, 1)
        for i in range(n):
            s.add(Education(expert=expert, education_level=level, degree=degree, school=f"学校{i}",
                            major="土木工程", start_date=start, end_date=start.replace(year=1999),
                            proof_file=_stored_file(s, expert.user_id, "education_proof")))
            s.add(Qualification(expert=expert, name=f"资质{i}", title_level=title_level,
                                certificate_no=f"Z{i:05d}", issue_date=start,
                                file=_stored_file(s, expert.user_id, "qualification")))
            s.add(WorkExperience(expert=expert, start_date=start, end_date=start, employer=f"单位{i}",
                                 position="工程师", referee="证明人"))
            s.add(EvaluationExperience(expert=expert, evaluated_on=start, project_name=f"项目{i}",
                                       tenderer="招标人", role="组长"))
            s.add(Expertise(expert=expert, content=f"专长{i}"))
            s.add(AvoidanceUnit(expert=expert, name=f"回避单位{i}", reason="曾任职"))
            s.add(BankAccount(expert=expert, bank_name="中国银行", account_no=f"62170000{i:08d}",
                              holder=expert.name))
            s.add(Attachment(expert=expert, title=f"附件{i}",
                             file=_stored_file(s, expert.user_id, "attachment")))
            s.add(ReviewRecord(expert=expert, action="提交审核", from_status=ExpertStatus.DRAFT.value,
                               to_status=ExpertStatus.PENDING.value, opinion=f"意见{i}"))
            s.add(TrainingRecord(expert=expert, round_name=f"2024年第{i}批", course_name=f"课程{i}",
                                 hours=8, result="合格", completed=True, graded_at=utcnow()))
        expert.extra_specialties.extend(
            s.query(Specialty).filter(Specialty.code != "A0101").order_by(Specialty.id)
            .offset(len(expert.extra_specialties)).limit(min(n, 5)).all())
        s.commit()
        s.remove()


def test_staff_expert_list_does_not_grow_with_the_experts(app, make_expert, count_queries):
    """专家库 → 专家列表: one page of experts with their 市州, 专业 and 职称."""
    for i in range(FEW):
        make_expert(f"列表甲{i}")
    client = app.test_client()
    login_staff(client)
    few, _ = _counted(client, count_queries, "/expertadminview/list/")
    for i in range(MANY - FEW):
        make_expert(f"列表乙{i}", prefecture="喀什地区" if i % 2 else "乌鲁木齐市")
    many, statements = _counted(client, count_queries, "/expertadminview/list/")
    assert many == few, statements
    assert many <= STAFF_LIST_MAX, statements


def test_expert_home_does_not_grow_with_the_profile_rows(app, make_expert, count_queries):
    """专家管理系统 (MyProfileView.profile): the 12 tabs of the expert's own profile."""
    account = make_expert("首页专家", status=ExpertStatus.ADMITTED)
    add_profile_rows(app, account.expert_id, FEW)
    client = app.test_client()
    login_expert(client, account)
    few, _ = _counted(client, count_queries, "/expert/")
    add_profile_rows(app, account.expert_id, MANY - FEW)
    many, statements = _counted(client, count_queries, "/expert/")
    assert many == few, statements
    assert many <= EXPERT_HOME_MAX, statements


def _training_round(app, account, courses: int) -> None:
    open_round_for(app, account, name=f"计数轮次-{account.expert_id}-{courses}",
                   batch=f"计数批{account.expert_id}", no_prefix="XJ2097",
                   course_names=[f"计数课程{i:02d}" for i in range(courses)])


def test_my_training_does_not_grow_with_the_courses(app, make_expert, count_queries):
    """【继续教育】→【我的培训】 (/training/), 50 a page: every course on one page."""
    few_expert = make_expert("培训甲", status=ExpertStatus.ADMITTED)
    _training_round(app, few_expert, FEW)
    many_expert = make_expert("培训乙", status=ExpertStatus.ADMITTED)
    _training_round(app, many_expert, MANY)
    counts = []
    for account, rows in ((few_expert, FEW), (many_expert, MANY)):
        client = app.test_client()
        login_expert(client, account)
        count, statements = _counted(client, count_queries, "/training/?size=50")
        assert client.get("/training/?size=50").get_data(True).count("data-enrollment=") == rows
        counts.append((count, statements))
    (few, _), (many, statements) = counts
    assert many == few, statements
    assert many <= MY_TRAINING_MAX, statements


def test_review_page_does_not_grow_with_the_profile_rows(app, make_expert, count_queries):
    """审核 → 待审核申请 → one expert's application: every tab, its files and the flags."""
    account = make_expert("待审专家", status=ExpertStatus.PENDING)
    add_profile_rows(app, account.expert_id, FEW)
    client = app.test_client()
    login_staff(client)
    url = f"/review/{account.expert_id}"
    few, _ = _counted(client, count_queries, url)
    add_profile_rows(app, account.expert_id, MANY - FEW)
    many, statements = _counted(client, count_queries, url)
    assert many == few, statements
    assert many <= REVIEW_MAX, statements


def test_count_queries_counts_what_the_engine_runs(app, count_queries):
    """The fixture itself: every statement sent in the block, none outside it."""
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        db.session.execute(text("SELECT 1"))
        with count_queries() as counted:
            db.session.execute(text("SELECT 2"))
            db.session.execute(text("SELECT 3"))
        db.session.execute(text("SELECT 4"))
        db.session.remove()
    assert counted.count == 2, counted.statements
    assert [s.strip() for s in counted.statements] == ["SELECT 2", "SELECT 3"]



# 培训情况 (issue 13): a page of enrolments with their expert, 市州, course, round and certificate
TRAINING_STATUS_MAX = 14


def test_training_status_list_does_not_grow_with_the_enrolments(app, make_expert, count_queries):
    from app.extensions import db
    from app.models import Course, Enrollment, TrainingRound

    with app.app_context():
        now = utcnow()
        rnd = TrainingRound(name="情况计数批次", admission_batches="不参训", fee_fen=30000,
                            enroll_start=now, enroll_end=now + dt.timedelta(days=30), active=False)
        rnd.courses = [Course(name="评标法规", required_minutes=60)]
        db.session.add(rnd)
        db.session.commit()
        course_id = rnd.courses[0].id
        db.session.remove()

    def enrol(n: int, prefix: str) -> None:
        accounts = [make_expert(f"{prefix}{i}", status=ExpertStatus.ADMITTED,
                                prefecture="喀什地区" if i % 2 else "乌鲁木齐市") for i in range(n)]
        with app.app_context():
            for account in accounts:
                db.session.add(Enrollment(expert_id=account.expert_id, course_id=course_id,
                                          paid_at=utcnow() if n % 2 else None))
            db.session.commit()
            db.session.remove()

    enrol(FEW, "情况甲")
    client = app.test_client()
    login_staff(client)
    few, _ = _counted(client, count_queries, "/training/status/list/")
    enrol(MANY - FEW, "情况乙")
    many, statements = _counted(client, count_queries, "/training/status/list/")
    assert many == few, statements
    assert many <= TRAINING_STATUS_MAX, statements
