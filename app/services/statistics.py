"""统计分析 on the staff 首页: each chart's rows, counted by the database (GROUP BY).

The expert charts (所在市州, 状态, 从事专业类别, 职称 level, age band, and the admission funnel
read from the same status counts) come from ONE statement: on PostgreSQL one scan with
GROUPING SETS over a narrow covering index (``ix_expert_statistics``, index-only at a million
rows); on SQLite (tests, small installs) the same sets as a UNION ALL of GROUP BYs. The small
reference tables (市州, 专业, 职称) are read once and used to name and roll up the groups:
专业 is counted by leaf and rolled up to its top-level category (大类) here, 职称 by title and
rolled up to its level, so the big table is grouped on plain integer columns only.

Per training round: 报名 / 已缴费 / 学习中 / 考试合格 (distinct experts), 已发证书, and the fees
received (已支付 orders, stored in 分, shown in 元).
"""
from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session

from app.models import (
    Certificate,
    CertificateStatus,
    Course,
    Enrollment,
    Expert,
    ExpertStatus,
    PaymentOrder,
    PaymentStatus,
    Prefecture,
    ReviewStatus,
    Specialty,
    Title,
    TitleLevel,
    TrainingRound,
)

NOT_GIVEN = "未填写"

# Age bands in full years (周岁) on the Beijing date: (label, lowest age, highest age or None).
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("40岁以下", 0, 39),
    ("40–49岁", 40, 49),
    ("50–59岁", 50, 59),
    ("60–69岁", 60, 69),
    ("70岁及以上", 70, None),
)

# The grouping columns of the expert scan, in GROUPING() bit order (leftmost = highest bit).
_DIMENSIONS = ("prefecture", "status", "specialty", "title", "age")


@dataclass
class Filters:
    """The 首页's filter row: 入库批次 (experts and their enrolments) and 培训批次 (the round chart)."""

    admission_batch: str | None = None
    round_id: int | None = None


@dataclass
class Chart:
    """One chart: its rows (label, value...) as the table and the bars show them."""

    key: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(int(r[1]) for r in self.rows)


def years_before(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` earlier (29 February → 28 February): someone born on or
    before it is at least ``years`` old on ``day``."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _age_band(today: dt.date):
    """A CASE giving the band's index (0..4) from birth_date; NULL when not given."""
    whens = [
        # younger than the next band's lowest age: born after that many years before today
        (Expert.birth_date > years_before(today, AGE_BANDS[i + 1][1]), i)
        for i in range(len(AGE_BANDS) - 1)
    ]
    return case(*whens, (Expert.birth_date.is_not(None), len(AGE_BANDS) - 1), else_=None)


def _expert_filter(filters: Filters) -> list:
    return [Expert.admission_batch == filters.admission_batch] if filters.admission_batch else []


def expert_group_counts(session: Session, today: dt.date,
                        filters: Filters) -> dict[str, dict[object, int]]:
    """dimension → {group value: experts}; one statement."""
    band = _age_band(today).label("age")
    cols = [Expert.prefecture_id.label("prefecture"), Expert.status.label("status"),
            Expert.main_specialty_id.label("specialty"), Expert.title_id.label("title"), band]
    where = _expert_filter(filters)
    out: dict[str, dict[object, int]] = {d: {} for d in _DIMENSIONS}
    if session.get_bind().dialect.name == "postgresql":
        query = (select(func.grouping(*cols[:4], band).label("g"), *cols,
                        func.count().label("n"))
                 .where(*where)
                 .group_by(func.grouping_sets(*(tuple_(c) for c in cols[:4]), tuple_(band))))
        width = len(_DIMENSIONS)
        for row in session.execute(query):
            # GROUPING() has a 0 bit for the one column this row is grouped by
            for i, dim in enumerate(_DIMENSIONS):
                if not (row.g >> (width - 1 - i)) & 1:
                    out[dim][row[i + 1]] = row.n
                    break
        return out
    # SQLite: the same sets, one GROUP BY each, in one statement (one column type: text)
    parts = [select(literal(dim).label("dim"), cast(col, String).label("value"),
                    func.count().label("n")).where(*where).group_by(col)
             for dim, col in zip(_DIMENSIONS, cols, strict=True)]
    for dim, value, n in session.execute(union_all(*parts)):
        out[dim][_as_key(dim, value)] = n
    return out


def _as_key(dim: str, value):
    """The ids and band indexes back from text."""
    if value is None or dim == "status":
        return value
    return int(value)


def _reference(session: Session):
    prefectures = session.execute(select(Prefecture.id, Prefecture.name).order_by(Prefecture.code)).all()
    specialties = session.execute(
        select(Specialty.id, Specialty.name, Specialty.parent_id, Specialty.code)
        .order_by(Specialty.code)).all()
    titles = session.execute(
        select(Title.id, TitleLevel.id, TitleLevel.name).join(TitleLevel, Title.level_id == TitleLevel.id)
    ).all()
    levels = session.execute(select(TitleLevel.id, TitleLevel.name).order_by(TitleLevel.code)).all()
    return prefectures, specialties, titles, levels


def _named(rows: list[list], missing: int) -> list[list]:
    if missing:
        rows.append([NOT_GIVEN, missing])
    return rows


def expert_charts(session: Session, today: dt.date, filters: Filters) -> list[Chart]:
    """The expert charts, every label shown (a 市州 with no experts has its 0)."""
    groups = expert_group_counts(session, today, filters)
    prefectures, specialties, titles, levels = _reference(session)

    by_prefecture = groups["prefecture"]
    known = {pid for pid, _ in prefectures}
    pref_rows = [[name, by_prefecture.get(pid, 0)] for pid, name in prefectures]
    pref_missing = sum(n for pid, n in by_prefecture.items() if pid not in known)

    by_status = groups["status"]
    status_rows = [[s.value, by_status.get(s.value, 0)] for s in ExpertStatus]

    # 从事专业类别: the top-level category (大类), rolled up from the leaves counted in SQL
    parent = {sid: pid for sid, _, pid, _ in specialties}
    top_names = {sid: name for sid, name, pid, _ in specialties if pid is None}

    def top_of(sid: int) -> int | None:
        seen = 0
        while sid in parent and parent[sid] is not None and seen < 10:
            sid, seen = parent[sid], seen + 1
        return sid if sid in top_names else None

    top_counts: dict[int, int] = {}
    spec_missing = 0
    for sid, n in groups["specialty"].items():
        top = top_of(sid) if sid is not None else None
        if top is None:
            spec_missing += n
        else:
            top_counts[top] = top_counts.get(top, 0) + n
    spec_rows = [[name, top_counts.get(sid, 0)] for sid, name in top_names.items()]

    level_of = {tid: lid for tid, lid, _ in titles}
    level_counts: dict[int, int] = {}
    title_missing = 0
    for tid, n in groups["title"].items():
        lid = level_of.get(tid) if tid is not None else None
        if lid is None:
            title_missing += n
        else:
            level_counts[lid] = level_counts.get(lid, 0) + n
    title_rows = [[name, level_counts.get(lid, 0)] for lid, name in levels]

    by_age = groups["age"]
    age_rows = [[label, by_age.get(i, 0)] for i, (label, _, _) in enumerate(AGE_BANDS)]

    count = "专家人数"
    return [
        Chart("prefecture", "按所在市州", ["所在市州", count], _named(pref_rows, pref_missing)),
        Chart("status", "按状态", ["状态", count], status_rows),
        Chart("specialty", "按从事专业类别（大类）", ["从事专业类别", count],
              _named(spec_rows, spec_missing)),
        Chart("title", "按职称级别", ["职称级别", count], _named(title_rows, title_missing)),
        Chart("age", "按年龄段（北京时间今日周岁）", ["年龄段", count],
              _named(age_rows, by_age.get(None, 0))),
        funnel_chart(by_status),
    ]


def funnel_chart(by_status: dict[object, int]) -> Chart:
    """入库流程: 草稿 → 待审核 → 已入库 / 已退回, from the status counts. 已提交审核 is every
    application that left 草稿 (暂停 and 清退 were admitted first)."""
    total = sum(by_status.values())
    s = ExpertStatus
    rows = [
        ["全部申请", total],
        [s.DRAFT.value, by_status.get(s.DRAFT.value, 0)],
        ["已提交审核", total - by_status.get(s.DRAFT.value, 0)],
        [s.PENDING.value, by_status.get(s.PENDING.value, 0)],
        [s.ADMITTED.value, by_status.get(s.ADMITTED.value, 0)],
        [s.RETURNED.value, by_status.get(s.RETURNED.value, 0)],
    ]
    return Chart("funnel", "入库流程", ["环节", "申请数"], rows)


def fen_to_yuan(fen: int | None) -> Decimal:
    return (Decimal(fen or 0) / 100).quantize(Decimal("0.01"))


def round_chart(session: Session, filters: Filters) -> Chart:
    """Per training round: 报名, 已缴费, 学习中, 考试合格 (experts), 已发证书, 已收费用（元）.

    报名: experts with an enrolment in one of the round's courses; 已缴费: of them, with a
    paid one; 考试合格: passed every course of the round (补学 included); 学习中: paid and not
    yet passed every course; 已发证书: valid certificates; 费用: 已支付 orders of the round."""
    per_expert = (
        select(Course.round_id.label("round_id"), Enrollment.expert_id,
               func.max(case((Enrollment.paid_at.is_not(None), 1), else_=0)).label("paid"),
               func.count(func.distinct(case(
                   (Enrollment.review_status == ReviewStatus.PASSED.value, Enrollment.course_id),
                   else_=None))).label("passed_courses"))
        .join(Course, Course.id == Enrollment.course_id))
    if filters.admission_batch:
        per_expert = per_expert.join(Expert, Expert.id == Enrollment.expert_id).where(
            Expert.admission_batch == filters.admission_batch)
    if filters.round_id:
        per_expert = per_expert.where(Course.round_id == filters.round_id)
    per_expert = per_expert.group_by(Course.round_id, Enrollment.expert_id).subquery()
    courses = (select(Course.round_id, func.count().label("n")).group_by(Course.round_id)
               .subquery())
    all_passed = per_expert.c.passed_courses >= courses.c.n
    training = (
        select(per_expert.c.round_id, func.count().label("enrolled"),
               func.sum(per_expert.c.paid).label("paid"),
               func.sum(case((and_(per_expert.c.paid == 1, ~all_passed), 1), else_=0))
               .label("studying"),
               func.sum(case((all_passed, 1), else_=0)).label("passed"))
        .join(courses, courses.c.round_id == per_expert.c.round_id)
        .group_by(per_expert.c.round_id).subquery())

    certificates = select(Certificate.round_id, func.count().label("n")).where(
        Certificate.status == CertificateStatus.VALID.value)
    fees = (select(Course.round_id, func.sum(PaymentOrder.amount_fen).label("fen"))
            .join(Enrollment, Enrollment.id == PaymentOrder.enrollment_id)
            .join(Course, Course.id == Enrollment.course_id)
            .where(PaymentOrder.status == PaymentStatus.PAID.value))
    if filters.admission_batch:
        certificates = certificates.join(Expert, Expert.id == Certificate.expert_id).where(
            Expert.admission_batch == filters.admission_batch)
        fees = fees.join(Expert, Expert.id == Enrollment.expert_id).where(
            Expert.admission_batch == filters.admission_batch)
    certificates = certificates.group_by(Certificate.round_id).subquery()
    fees = fees.group_by(Course.round_id).subquery()

    query = (select(TrainingRound.id, TrainingRound.name, training.c.enrolled, training.c.paid,
                    training.c.studying, training.c.passed, certificates.c.n, fees.c.fen)
             .outerjoin(training, training.c.round_id == TrainingRound.id)
             .outerjoin(certificates, certificates.c.round_id == TrainingRound.id)
             .outerjoin(fees, fees.c.round_id == TrainingRound.id)
             .order_by(TrainingRound.enroll_start, TrainingRound.id))
    if filters.round_id:
        query = query.where(TrainingRound.id == filters.round_id)
    rows = [[name, int(enrolled or 0), int(paid or 0), int(studying or 0), int(passed or 0),
             int(certs or 0), fen_to_yuan(fen)]
            for _id, name, enrolled, paid, studying, passed, certs, fen in session.execute(query)]
    return Chart("rounds", "培训批次情况",
                 ["培训批次", "报名人数", "已缴费", "学习中", "考试合格", "已发证书", "已收费用（元）"],
                 rows)


def dashboard_charts(session: Session, today: dt.date, filters: Filters) -> list[Chart]:
    """Every chart of the 首页, in the order shown."""
    return [*expert_charts(session, today, filters), round_chart(session, filters)]


def admission_batches(session: Session) -> list[str]:
    """The 入库批次 in use, newest first. PostgreSQL: a loose index scan (one index probe per
    batch, a recursive CTE) instead of reading a million index entries for a DISTINCT."""
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(text(
            "WITH RECURSIVE b(v) AS ("
            " SELECT min(admission_batch) FROM expert WHERE admission_batch > ''"
            " UNION ALL"
            " SELECT (SELECT min(admission_batch) FROM expert WHERE admission_batch > b.v)"
            " FROM b WHERE b.v IS NOT NULL)"
            " SELECT v FROM b WHERE v IS NOT NULL")).scalars().all()
    else:
        found = session.execute(
            select(Expert.admission_batch).where(Expert.admission_batch > "")
            .group_by(Expert.admission_batch)).scalars().all()
    return sorted(found, reverse=True)


def filter_choices(session: Session) -> tuple[list[str], list[tuple[int, str]]]:
    """The filter row's options: 入库批次 in use and the training rounds (newest first)."""
    rounds = [(rid, name) for rid, name in session.execute(
        select(TrainingRound.id, TrainingRound.name).order_by(TrainingRound.enroll_start.desc(),
                                                              TrainingRound.id.desc()))]
    return admission_batches(session), rounds


# --- a short-lived memory of the charts, per worker -------------------------------------
# Counting a million experts takes about a second; the 首页 is opened by every staff member
# after login. Each worker keeps a filter's charts ``max_age`` seconds (config
# STATISTICS_CACHE_SECONDS) and the page says when they were counted. The 待办 counts are
# never kept: they are index counts, exact on every page.

_memo: dict[tuple, tuple[float, list[Chart]]] = {}
_memo_lock = threading.Lock()
_MEMO_MAX = 256


def cached_dashboard_charts(session: Session, today: dt.date, filters: Filters, *,
                            max_age: float, now: float) -> tuple[list[Chart], float]:
    """(charts, when they were counted, as a POSIX time): from memory when younger than
    ``max_age`` seconds, else counted now."""
    key = (str(session.get_bind().engine.url), today, filters.admission_batch, filters.round_id)
    if max_age > 0:
        with _memo_lock:
            hit = _memo.get(key)
        if hit is not None and now - hit[0] < max_age:
            return hit[1], hit[0]
    charts = dashboard_charts(session, today, filters)
    if max_age > 0:
        with _memo_lock:
            if len(_memo) >= _MEMO_MAX:
                _memo.clear()
            _memo[key] = (now, charts)
    return charts, now


def forget_cached_charts() -> None:
    with _memo_lock:
        _memo.clear()


__all__ = ["AGE_BANDS", "Chart", "Filters", "admission_batches", "cached_dashboard_charts",
           "dashboard_charts", "expert_charts", "fen_to_yuan", "filter_choices",
           "forget_cached_charts", "funnel_chart", "round_chart", "years_before"]
