"""Demo data: realistic experts across the 14 市州, plus the README's demo accounts, and a
training round open for study (lessons: a PDF made here and a short video from data/demo/; a
question bank and paper rules) so a newcomer can pay, study and sit the exam end to end.

Run by ``flask demo-data``, which commits through the unit of work; nothing here commits.
``create_demo_experts`` hands every 50 experts to the runner's ``checkpoint`` (the CLI
commits there, so a long run keeps what it made)."""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from weasyprint import HTML

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
    Lesson,
    PaperRule,
    PaymentOrder,
    PaymentStatus,
    PoliticalStatus,
    Prefecture,
    Qualification,
    Question,
    ReviewStatus,
    Specialty,
    Title,
    TrainingRound,
    WorkExperience,
)
from app.services import uploads
from app.services.accounts import hash_password
from app.services.experts import prepare_new_expert
from app.services.pdf import data_only_fetcher
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


# ---------------------------------------------------------------- the round open for study

DEMO_STUDY_ROUND = "2026年第一批（演示）"
DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"
DEMO_VIDEO = DEMO_DIR / "lesson-video.mp4"  # how it was made: data/demo/README.md

# (kind, text, options one per line, answer): enough of each kind for DEMO_PAPER
DEMO_QUESTIONS: dict[str, list[tuple[str, str, str, str]]] = {
    "招标投标法律法规要点": [
        ("单选", "依法必须进行招标的项目，自招标文件开始发出之日起至投标人提交投标文件截止之日止，"
                 "最短不得少于多少日？",
         "A. 10日\nB. 15日\nC. 20日\nD. 30日", "C"),
        ("单选", "评标委员会由招标人代表和有关技术、经济等方面的专家组成，成员人数为几人以上单数？",
         "A. 3人\nB. 5人\nC. 7人\nD. 9人", "B"),
        ("单选", "评标委员会中技术、经济等方面的专家不得少于成员总数的多少？",
         "A. 二分之一\nB. 三分之一\nC. 三分之二\nD. 四分之三", "C"),
        ("单选", "中标候选人应当不超过几个，并标明排序？", "A. 1个\nB. 2个\nC. 3个\nD. 5个", "C"),
        ("单选", "招标人和中标人应当自中标通知书发出之日起多少日内订立书面合同？",
         "A. 7日\nB. 15日\nC. 30日\nD. 60日", "C"),
        ("单选", "投标保证金不得超过招标项目估算价的百分之几？", "A. 1%\nB. 2%\nC. 5%\nD. 10%", "B"),
        ("多选", "下列哪些情形，评标委员会应当否决其投标？",
         "A. 投标文件未经投标单位盖章和单位负责人签字\nB. 投标联合体没有提交共同投标协议\n"
         "C. 投标报价低于成本或者高于招标文件设定的最高投标限价\nD. 投标文件字体不统一", "ABC"),
        ("多选", "评标专家有下列哪些情形之一的，应当主动提出回避？",
         "A. 投标人或者投标人主要负责人的近亲属\nB. 项目主管部门或者行政监督部门的人员\n"
         "C. 与投标人有经济利益关系，可能影响公正评审\nD. 曾在同一城市工作", "ABC"),
        ("多选", "招标公告或者投标邀请书应当载明下列哪些内容？",
         "A. 招标人的名称和地址\nB. 招标项目的性质、数量\nC. 实施地点和时间\nD. 获取招标文件的办法", "ABCD"),
        ("判断", "评标委员会成员的名单在中标结果确定前应当保密。", "", "对"),
        ("判断", "招标人可以在评标委员会推荐的中标候选人以外确定中标人。", "", "错"),
        ("判断", "评标委员会成员可以私下接触投标人，但不得收受财物。", "", "错"),
        ("判断", "评标专家应当客观、公正地履行职责，遵守职业道德，对所提出的评审意见承担个人责任。",
         "", "对"),
        ("简答", "简述评标委员会否决投标的主要情形（至少三种）。", "",
         "未经盖章签字；联合体无共同投标协议；不符合资格条件；报价低于成本或高于最高限价；未实质性响应招标文件"),
        ("简答", "简述评标专家应当回避的情形。", "",
         "近亲属；主管或监督部门人员；有经济利益关系；曾因违法行为受过处罚"),
    ],
    "评标专家职业道德与评标纪律": [
        ("单选", "评标专家接到评标通知后不能按时参加评标的，应当如何处理？",
         "A. 不必告知\nB. 及时告知并说明理由\nC. 委托他人代为评标\nD. 评标结束后补交说明", "B"),
        ("单选", "评标过程中，评标专家的通讯工具应当如何处置？",
         "A. 随身携带\nB. 调至静音\nC. 按规定统一存放\nD. 交给投标人保管", "C"),
        ("单选", "评标专家对评标结果有不同意见的，应当如何处理？",
         "A. 拒绝签字且不说明\nB. 以书面形式说明不同意见和理由\nC. 私下告知投标人\nD. 向媒体反映", "B"),
        ("单选", "评标专家连续多少次无正当理由不参加评标，可能被暂停评标资格？",
         "A. 1次\nB. 2次\nC. 3次\nD. 5次", "C"),
        ("单选", "下列哪项属于评标专家的权利？",
         "A. 接受投标人宴请\nB. 依法对投标文件进行独立评审\nC. 透露评审情况\nD. 指定中标人", "B"),
        ("单选", "评标专家在评标活动中泄露评审情况的，应当承担什么后果？",
         "A. 无需承担\nB. 口头提醒\nC. 依法承担相应责任\nD. 仅扣除评审费", "C"),
        ("多选", "评标专家应当遵守的评标纪律包括：",
         "A. 不得私下接触投标人\nB. 不得收受投标人的财物\nC. 不得透露评审情况\nD. 不得擅离职守", "ABCD"),
        ("多选", "评标专家的义务包括：",
         "A. 按时参加评标\nB. 遵守评标纪律\nC. 接受继续教育\nD. 个人信息变化时及时更新", "ABCD"),
        ("多选", "下列哪些行为属于违反评标纪律？",
         "A. 向他人透露评标委员会成员名单\nB. 按招标文件规定的标准和方法评审\n"
         "C. 对投标文件的评审意见随意更改\nD. 暗示或诱导投标人作出澄清", "ACD"),
        ("判断", "评标专家可以将评标工作委托给熟悉项目的同事完成。", "", "错"),
        ("判断", "评标专家应当按照招标文件规定的评标标准和方法进行评审。", "", "对"),
        ("判断", "评标专家每年应当按规定参加继续教育培训。", "", "对"),
        ("判断", "评标结束后，评标专家可以向投标人透露各自的得分情况。", "", "错"),
        ("简答", "简述评标专家应当遵守的评标纪律。", "",
         "不私下接触投标人；不收受财物；不透露评审情况；不擅离职守；独立客观公正评审"),
        ("简答", "评标专家对评标结果有不同意见时应当怎样处理？", "",
         "以书面形式说明不同意见和理由；拒绝签字又不说明的视为同意"),
    ],
}
# 4 单选 × 15 + 2 多选 × 10 + 2 判断 × 5 + 1 简答 × 10 = 100 points; 简答 graded by staff
DEMO_PAPER = dict(single_count=4, single_score=15, multi_count=2, multi_score=10,
                  judge_count=2, judge_score=5, short_count=1, short_score=10,
                  time_limit_minutes=30)

LESSON_PDF_HTML = """<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 20mm; }}
body {{ font-family: "Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", sans-serif;
       font-size: 12pt; line-height: 1.8; }}
h1 {{ font-size: 18pt; text-align: center; }} li {{ margin-bottom: 4pt; }}
</style></head><body><h1>{title}</h1><p>新疆维吾尔自治区住房和城乡建设厅 · 评标专家继续教育（演示课件）</p>
<ol>{items}</ol><p>本课件为演示数据，学习后请完成在线考试。</p></body></html>"""


def lesson_pdf(title: str, questions: list[tuple[str, str, str, str]]) -> bytes:
    """A small A4 PDF with CJK text: the course's points, drawn from its question bank."""
    points = []
    for kind, text, options, answer in questions:
        if kind == "单选":
            right = next(line for line in options.splitlines() if line.startswith(answer))
            points.append(f"{text}答：{right[3:]}")
        elif kind == "判断":
            points.append(text if answer == "对" else f"（错误说法）{text}")
    items = "".join(f"<li>{point}</li>" for point in points)
    return HTML(string=LESSON_PDF_HTML.format(title=title, items=items),
                url_fetcher=data_only_fetcher()).write_pdf()


def create_demo_study_round(session: Session, now: dt.datetime, upload_dir: str | Path,
                            required_minutes: int = 1) -> TrainingRound:
    """An active round open for payment now, studied at once after payment
    (``open_delay_days`` 0), for the demo experts' 入库批次: two courses, each with a PDF and
    a video lesson, a question bank and paper rules. Safe to run again. Flushes."""
    rnd = session.execute(select(TrainingRound).where(
        TrainingRound.name == DEMO_STUDY_ROUND)).scalar_one_or_none()
    if rnd is not None:
        return rnd
    rnd = TrainingRound(name=DEMO_STUDY_ROUND, admission_batches="2024年第一批,2024年第二批",
                        enroll_start=now - dt.timedelta(days=1),
                        enroll_end=now + dt.timedelta(days=365), study_days=90, fee_fen=30000,
                        makeup_fee_fen=10000, pass_mark=60, attempts_allowed=3,
                        open_delay_days=0, active=True)
    session.add(rnd)
    video = DEMO_VIDEO.read_bytes()
    for sort, (name, questions) in enumerate(DEMO_QUESTIONS.items(), start=1):
        course = Course(round=rnd, name=name, required_minutes=required_minutes, sort=sort)
        session.add(course)
        pdf = uploads.store(session, owner_id=None, kind_name="lesson", filename=f"{name}.pdf",
                            data=lesson_pdf(name, questions), upload_dir=upload_dir)
        mp4 = uploads.store(session, owner_id=None, kind_name="lesson", filename=f"{name}.mp4",
                            data=video, upload_dir=upload_dir)
        session.add(Lesson(course=course, title=f"第一讲 {name}（课件）", file=pdf, sort=1))
        session.add(Lesson(course=course, title=f"第二讲 {name}（视频）", file=mp4, sort=2))
        for kind, text, options, answer in questions:
            session.add(Question(course=course, kind=kind, text=text, options=options or None,
                                 answer=answer))
        session.add(PaperRule(course=course, **DEMO_PAPER))
    session.flush()
    return rnd
