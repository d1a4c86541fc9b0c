"""Demo data: realistic experts across the 14 市州, plus the README's demo accounts.

Run by ``flask demo-data``, which commits through the unit of work; nothing here commits.
``create_demo_experts`` hands every 50 experts to the runner's ``checkpoint`` (the CLI
commits there, so a long run keeps what it made)."""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    AdmissionType,
    AppUser,
    Course,
    Degree,
    Education,
    EducationLevel,
    Enrollment,
    EvaluationExperience,
    Expert,
    Expertise,
    ExpertStatus,
    FeeKind,
    PaymentOrder,
    PaymentStatus,
    PoliticalStatus,
    Prefecture,
    Qualification,
    ReviewStatus,
    Specialty,
    Title,
    TrainingRound,
    WorkExperience,
)
from app.services.accounts import hash_password
from app.services.experts import prepare_new_expert
from app.services.roles import ROLE_ADMIN, ROLE_REVIEWER
from app.services.validators import make_id_number

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "建国志强海军新华丽娟红梅文杰国庆立新伟明晓东建华玉兰春花秀英德胜永刚卫东学军"
UYGHUR_GIVEN = ["买买提", "艾力", "阿不都", "热合曼", "吐尔逊", "努尔", "古丽", "阿依古丽", "帕提古丽",
                "艾尔肯", "迪力夏提", "麦麦提", "依明", "阿里木"]
EMPLOYERS = ["新疆建工集团", "新疆城建集团", "乌鲁木齐市建筑设计研究院", "新疆交通建设集团",
             "新疆水利水电勘测设计研究院", "中建新疆建工集团", "新疆建筑科学研究院",
             "克拉玛依市政工程公司", "伊犁州建设工程质量检测中心", "喀什地区城建投资公司"]
SCHOOLS = ["新疆大学", "石河子大学", "新疆农业大学", "西安建筑科技大学", "同济大学",
           "乌鲁木齐职业大学", "重庆大学", "兰州交通大学"]
MAJORS = ["土木工程", "工程管理", "给排水科学与工程", "建筑学", "道路与桥梁工程", "工程造价"]
POSITIONS = ["项目经理", "技术负责人", "总工程师", "造价工程师", "设计负责人", "质量主管"]
PROJECT_KINDS = ["保障性住房", "市政道路", "污水处理厂", "学校"]
QUALIFICATIONS = ["一级注册建造师", "注册造价工程师", "注册监理工程师", "一级注册结构工程师"]

DEMO_PASSWORD_ADMIN = "Admin2025"
DEMO_PASSWORD_REVIEWER = "Shenhe2025"
DEMO_PASSWORD_EXPERT = "Zhuanjia2025"


def random_name(rng: random.Random) -> str:
    if rng.random() < 0.25:
        return f"{rng.choice(UYGHUR_GIVEN)}·{rng.choice(UYGHUR_GIVEN)}"
    return rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2))))


def _used_phones(session: Session) -> set[str]:
    return set(session.execute(select(Expert.phone)).scalars())


def _used_ids(session: Session) -> set[str]:
    return set(session.execute(select(Expert.id_number)).scalars())


def make_expert(session: Session, rng: random.Random, *, name: str | None = None,
                status: ExpertStatus | None = None, used_ids: set[str], used_phones: set[str],
                id_number: str | None = None, phone: str | None = None,
                today: dt.date | None = None) -> Expert:
    today = today or dt.date.today()
    prefectures = session.execute(select(Prefecture)).scalars().all()
    specialties = session.execute(select(Specialty).where(Specialty.parent_id.is_not(None))).scalars().all()
    titles = session.execute(select(Title)).scalars().all()
    political = session.execute(select(PoliticalStatus)).scalars().all()
    levels = session.execute(select(EducationLevel)).scalars().all()
    degrees = session.execute(select(Degree)).scalars().all()
    prefecture = rng.choice(prefectures)
    birth = dt.date(rng.randint(1962, 1988), rng.randint(1, 12), rng.randint(1, 28))
    while id_number is None:
        candidate = make_id_number(prefecture.code[:4] + f"{rng.randint(1, 30):02d}", birth,
                                   rng.randint(0, 999))
        if candidate not in used_ids:
            id_number = candidate
    while phone is None:
        candidate = f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"
        if candidate not in used_phones:
            phone = candidate
    used_ids.add(id_number)
    used_phones.add(phone)
    main = rng.choice(specialties)
    employer = rng.choice(EMPLOYERS)
    expert = Expert(
        name=name or random_name(rng), id_number=id_number, phone=phone,
        email=f"expert{rng.randint(1000, 999999)}@example.com",
        political_status=rng.choice(political), prefecture=prefecture,
        address=f"{prefecture.name}某某路{rng.randint(1, 500)}号",
        accepts_remote=rng.random() < 0.7, emergency_expert=rng.random() < 0.4,
        admission_type=AdmissionType.RENEWAL.value,
        admission_batch=rng.choice(["2024年第一批", "2024年第二批"]),
        employer=employer, main_specialty=main, title=rng.choice(titles),
        status=(status or rng.choice(list(ExpertStatus))).value,
    )
    extra = [s for s in rng.sample(specialties, 2) if s.id != main.id]
    expert.extra_specialties = extra[: rng.randint(0, 2)]
    start = birth.year + 18
    expert.educations.append(Education(
        education_level=rng.choice(levels), degree=rng.choice(degrees),
        school=rng.choice(SCHOOLS), major=rng.choice(MAJORS),
        start_date=dt.date(start, 9, 1), end_date=dt.date(start + 4, 7, 1)))
    work_start = start + 4
    for i in range(rng.randint(1, 3)):
        end = min(work_start + rng.randint(3, 12), today.year) if i < 2 else None
        expert.work_experiences.append(WorkExperience(
            start_date=dt.date(work_start, 7, 15), end_date=dt.date(end, 6, 30) if end else None,
            employer=rng.choice(EMPLOYERS), position=rng.choice(POSITIONS),
            referee=random_name(rng)))
        if end is None or end >= today.year:
            break
        work_start = end
    if rng.random() < 0.6:
        expert.qualifications.append(Qualification(
            name=rng.choice(QUALIFICATIONS), is_registered=True,
            certificate_no=f"新{rng.randint(10**9, 10**10 - 1)}",
            issue_date=dt.date(rng.randint(2005, 2023), rng.randint(1, 12), 1)))
    for _ in range(rng.randint(0, 3)):
        expert.evaluation_experiences.append(EvaluationExperience(
            evaluated_on=dt.date(rng.randint(2019, 2024), rng.randint(1, 12), rng.randint(1, 28)),
            project_name=prefecture.name + rng.choice(PROJECT_KINDS) + "项目",
            tenderer=f"{prefecture.name}住房和城乡建设局", role=rng.choice(["评标专家", "评标组长"])))
    expert.expertises.append(Expertise(content=f"{main.name}施工技术与质量管理"))
    prepare_new_expert(session, expert)
    return expert


def create_staff_user(sm, username: str, name: str, email: str, role_name: str,
                      password: str) -> AppUser:
    user = sm.find_user(username=username)
    if user is None:
        user = sm.add_user(username=username, first_name=name, last_name="", email=email,
                           role=sm.find_role(role_name), password=password)
    return user


def create_demo_accounts(session: Session, sm) -> list[dict[str, str]]:
    """The README's accounts: an admin, a reviewer and three experts. Flushes."""
    rng = random.Random(20250523)
    used_ids, used_phones = _used_ids(session), _used_phones(session)
    create_staff_user(sm, "admin", "系统管理员", "admin@example.gov.cn", ROLE_ADMIN,
                      DEMO_PASSWORD_ADMIN)
    create_staff_user(sm, "shenhe", "审核员", "shenhe@example.gov.cn", ROLE_REVIEWER,
                      DEMO_PASSWORD_REVIEWER)
    accounts = [
        {"role": "管理员", "login": "admin", "password": DEMO_PASSWORD_ADMIN, "note": "管理人员"},
        {"role": "审核人员", "login": "shenhe", "password": DEMO_PASSWORD_REVIEWER, "note": "管理人员"},
    ]
    fixed = [
        ("张建国", "650102197806153219", "13899110001", ExpertStatus.DRAFT, False),
        ("买买提·艾力", "652101198203104514", "13899110002", ExpertStatus.ADMITTED, True),
        ("李秀英", "652301198511200023", "13899110003", ExpertStatus.DRAFT, True),
    ]
    for name, id_number, phone, status, changed in fixed:
        expert = session.execute(select(Expert).where(Expert.id_number == id_number)).scalar_one_or_none()
        if expert is None:
            expert = make_expert(session, rng, name=name, status=status, used_ids=used_ids,
                                 used_phones=used_phones, id_number=id_number, phone=phone)
            if status == ExpertStatus.ADMITTED:
                expert.expert_no = "XJ2024000001"
            if changed:
                expert.user.password = hash_password(DEMO_PASSWORD_EXPERT)
                expert.user.must_change_password = False
        password = DEMO_PASSWORD_EXPERT if changed else f"{id_number[-8:]}（身份证后八位）"
        accounts.append({"role": f"专家（{status.value}）", "login": f"{expert.user.username} 或 {phone}",
                         "password": password,
                         "note": "首次登录须修改密码" if not changed else ""})
    session.flush()
    return accounts


def create_demo_experts(session: Session, count: int, seed: int = 1,
                        progress: Callable[[int], None] | None = None,
                        checkpoint: Callable[[Session], None] | None = None) -> int:
    """``count`` random experts; every 50 of them are handed to ``checkpoint`` (the runner
    commits there). Flushes."""
    rng = random.Random(seed)
    used_ids, used_phones = _used_ids(session), _used_phones(session)
    for i in range(count):
        make_expert(session, rng, used_ids=used_ids, used_phones=used_phones)
        if (i + 1) % 50 == 0:
            session.flush()
            if checkpoint:
                checkpoint(session)
        if progress:
            progress(1)
    session.flush()
    return count


DEMO_ROUND = "2025年第一批"


def create_demo_training(session: Session, now: dt.datetime) -> Expert | None:
    """A finished training round (inactive: it enrols nobody new) with two courses, and
    买买提·艾力 (已入库) having paid for and passed both, so 【专家证书】 has a certificate to
    show. Safe to run again. Flushes (the command commits once the certificate is issued)."""
    expert = session.execute(select(Expert).where(
        Expert.id_number == "652101198203104514")).scalar_one_or_none()
    if expert is None or not expert.expert_no:
        return None
    rnd = session.execute(select(TrainingRound).where(
        TrainingRound.name == DEMO_ROUND)).scalar_one_or_none()
    if rnd is None:
        rnd = TrainingRound(name=DEMO_ROUND, admission_batches="2024年第一批,2024年第二批",
                            enroll_start=now - dt.timedelta(days=60),
                            enroll_end=now - dt.timedelta(days=30), study_days=60, fee_fen=30000,
                            makeup_fee_fen=10000, pass_mark=60, attempts_allowed=2, active=False)
        rnd.courses = [Course(name="招标投标法律法规", required_minutes=180, sort=1),
                       Course(name="评标专家职业道德与评标纪律", required_minutes=90, sort=2)]
        session.add(rnd)
        session.flush()
    paid_at = now - dt.timedelta(days=40)
    for i, course in enumerate(sorted(rnd.courses, key=lambda c: c.sort)):
        exists = session.execute(select(Enrollment).where(
            Enrollment.expert_id == expert.id, Enrollment.course_id == course.id)).scalars().first()
        if exists is not None:
            continue
        enrollment = Enrollment(expert=expert, course=course, attempt_no=1, paid_at=paid_at,
                                study_start=paid_at + dt.timedelta(days=2),
                                study_end=paid_at + dt.timedelta(days=62),
                                credited_seconds=course.required_minutes * 60,
                                review_status=ReviewStatus.PASSED.value, completed=True,
                                graded_at=now - dt.timedelta(days=5), created_at=paid_at)
        session.add(enrollment)
        session.add(PaymentOrder(order_no=f"PXDEMO{expert.id:06d}{i}", enrollment=enrollment,
                                 expert_no=expert.expert_no, amount_fen=rnd.fee_fen,
                                 kind=FeeKind.TRAINING.value, status=PaymentStatus.PAID.value,
                                 created_at=paid_at, paid_at=paid_at,
                                 provider="manual", provider_ref=f"DEMO-{expert.id}-{i}"))
    session.flush()
    return expert
