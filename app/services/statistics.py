"""统计分析 on the staff 首页: a shared snapshot of every chart's counts, computed in the
background and read by the page in one query.

The snapshot (``StatisticsSnapshot``, JSON) holds the counts grouped by 入库批次 and each
chart's category, so the page's 入库批次 filter picks one batch's rows and the unfiltered
chart is the sum over batches; the round chart is kept per (round, 入库批次) the same way
and the 培训批次 filter picks one round. It is computed by the Celery task
``statistics.refresh`` (celery beat every STATISTICS_REFRESH_SECONDS, or 「刷新统计」 on the
page, one queued refresh at a time) and, when no snapshot exists yet (a new install, tests),
once in the request that first opens the page. Every worker shows the same numbers and says
when they were counted.

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
import json
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
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
    StatisticsSnapshot,
    Title,
    TitleLevel,
    TrainingRound,
    beijing_today,
    utcnow,
)
from app.services import jobs, unit_of_work

log = logging.getLogger(__name__)
TASK_REFRESH = "statistics.refresh"

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


def _batch_key(batch: str | None) -> str:
    """The snapshot's key of a 入库批次 (experts without one: "", counted in the totals only)."""
    return batch or ""


def expert_group_counts(session: Session, today: dt.date) -> dict[str, dict[tuple[str, object], int]]:
    """dimension → {(入库批次, group value): experts}; one statement."""
    batch = Expert.admission_batch.label("batch")
    band = _age_band(today).label("age")
    cols = [Expert.prefecture_id.label("prefecture"), Expert.status.label("status"),
            Expert.main_specialty_id.label("specialty"), Expert.title_id.label("title"), band]
    out: dict[str, dict[tuple[str, object], int]] = {d: {} for d in _DIMENSIONS}
    if session.get_bind().dialect.name == "postgresql":
        # one scan of ix_expert_statistics (it leads with admission_batch)
        query = (select(func.grouping(*cols[:4], band).label("g"), batch, *cols,
                        func.count().label("n"))
                 .group_by(func.grouping_sets(*(tuple_(Expert.admission_batch, c)
                                                for c in cols[:4]),
                                              tuple_(Expert.admission_batch, band))))
        width = len(_DIMENSIONS)
        for row in session.execute(query):
            # GROUPING() has a 0 bit for the one column this row is grouped by
            for i, dim in enumerate(_DIMENSIONS):
                if not (row.g >> (width - 1 - i)) & 1:
                    key = (_batch_key(row.batch), row[i + 2])
                    out[dim][key] = out[dim].get(key, 0) + row.n
                    break
        return out
    # SQLite: the same sets, one GROUP BY each, in one statement (one column type: text)
    parts = [select(literal(dim).label("dim"), batch, cast(col, String).label("value"),
                    func.count().label("n")).group_by(Expert.admission_batch, col)
             for dim, col in zip(_DIMENSIONS, cols, strict=True)]
    for dim, batch_value, value, n in session.execute(union_all(*parts)):
        key = (_batch_key(batch_value), _as_key(dim, value))
        out[dim][key] = out[dim].get(key, 0) + n
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


# the expert charts kept in the snapshot, in the order shown (the funnel is drawn from 状态)
EXPERT_CHARTS: tuple[tuple[str, str, str], ...] = (
    ("prefecture", "按所在市州", "所在市州"),
    ("status", "按状态", "状态"),
    ("specialty", "按从事专业类别（大类）", "从事专业类别"),
    ("title", "按职称级别", "职称级别"),
    ("age", "按年龄段（北京时间今日周岁）", "年龄段"),
)
ROUND_COLUMNS = ["培训批次", "报名人数", "已缴费", "学习中", "考试合格", "已发证书", "已收费用（元）"]


def expert_snapshot(session: Session, today: dt.date) -> tuple[dict[str, list[str]],
                                                                dict[str, dict[str, list[int]]]]:
    """(chart → its labels, 入库批次 → chart → the counts in label order). Every label is
    kept (a 市州 with no experts has its 0); 未填写 is always the last label of the charts
    that have it, and left out on the page when it counts 0."""
    groups = expert_group_counts(session, today)
    prefectures, specialties, titles, levels = _reference(session)

    # 从事专业类别: the top-level category (大类), rolled up from the leaves counted in SQL
    parent = {sid: pid for sid, _, pid, _ in specialties}
    top_names = {sid: name for sid, name, pid, _ in specialties if pid is None}

    def top_of(sid: int) -> int | None:
        seen = 0
        while sid in parent and parent[sid] is not None and seen < 10:
            sid, seen = parent[sid], seen + 1
        return sid if sid in top_names else None

    level_of = {tid: lid for tid, lid, _ in titles}
    # chart → group value → the label's index (None: 未填写, the last one)
    pref_index = {pid: i for i, (pid, _) in enumerate(prefectures)}
    status_index = {s.value: i for i, s in enumerate(ExpertStatus)}
    top_index = {sid: i for i, sid in enumerate(top_names)}
    level_index = {lid: i for i, (lid, _) in enumerate(levels)}
    labels = {
        "prefecture": [name for _, name in prefectures] + [NOT_GIVEN],
        "status": [s.value for s in ExpertStatus],
        "specialty": list(top_names.values()) + [NOT_GIVEN],
        "title": [name for _, name in levels] + [NOT_GIVEN],
        "age": [label for label, _, _ in AGE_BANDS] + [NOT_GIVEN],
    }

    def index_of(dim: str, value) -> int | None:
        if value is None:
            return None
        if dim == "prefecture":
            return pref_index.get(value)
        if dim == "status":
            return status_index.get(value)
        if dim == "specialty":
            top = top_of(value)
            return top_index.get(top) if top is not None else None
        if dim == "title":
            lid = level_of.get(value)
            return level_index.get(lid) if lid is not None else None
        return value  # the age band's index

    counts: dict[str, dict[str, list[int]]] = {}
    for dim, grouped in groups.items():
        width = len(labels[dim])
        for (batch, value), n in grouped.items():
            row = counts.setdefault(batch, {}).setdefault(dim, [0] * width)
            i = index_of(dim, value)
            if i is None:
                if dim == "status":
                    continue  # a status outside the enum is not a chart's row (as before)
                i = width - 1
            row[i] += n
    for per_chart in counts.values():
        for dim, names in labels.items():
            per_chart.setdefault(dim, [0] * len(names))
    return labels, counts


def round_snapshot(session: Session) -> tuple[list[list], dict[str, dict[str, list[int]]]]:
    """([[round id, name]] in the chart's order, 入库批次 → round id → [报名, 已缴费, 学习中,
    考试合格, 已发证书, 已收费用 in 分]).

    报名: experts with an enrolment in one of the round's courses; 已缴费: of them, with a
    paid one; 考试合格: passed every course of the round (补学 included); 学习中: paid and not
    yet passed every course; 已发证书: valid certificates; 费用: 已支付 orders of the round.
    Each expert has one 入库批次, so the per-batch numbers add up to the round's."""
    per_expert = (
        select(Course.round_id.label("round_id"), Enrollment.expert_id,
               Expert.admission_batch.label("batch"),
               func.max(case((Enrollment.paid_at.is_not(None), 1), else_=0)).label("paid"),
               func.count(func.distinct(case(
                   (Enrollment.review_status == ReviewStatus.PASSED.value, Enrollment.course_id),
                   else_=None))).label("passed_courses"))
        .join(Course, Course.id == Enrollment.course_id)
        .join(Expert, Expert.id == Enrollment.expert_id)
        .group_by(Course.round_id, Enrollment.expert_id, Expert.admission_batch).subquery())
    courses = (select(Course.round_id, func.count().label("n")).group_by(Course.round_id)
               .subquery())
    all_passed = per_expert.c.passed_courses >= courses.c.n
    training = (
        select(per_expert.c.round_id, per_expert.c.batch, func.count().label("enrolled"),
               func.sum(per_expert.c.paid).label("paid"),
               func.sum(case((and_(per_expert.c.paid == 1, ~all_passed), 1), else_=0))
               .label("studying"),
               func.sum(case((all_passed, 1), else_=0)).label("passed"))
        .join(courses, courses.c.round_id == per_expert.c.round_id)
        .group_by(per_expert.c.round_id, per_expert.c.batch))
    certificates = (select(Certificate.round_id, Expert.admission_batch, func.count())
                    .join(Expert, Expert.id == Certificate.expert_id)
                    .where(Certificate.status == CertificateStatus.VALID.value)
                    .group_by(Certificate.round_id, Expert.admission_batch))
    fees = (select(Course.round_id, Expert.admission_batch, func.sum(PaymentOrder.amount_fen))
            .join(Enrollment, Enrollment.id == PaymentOrder.enrollment_id)
            .join(Course, Course.id == Enrollment.course_id)
            .join(Expert, Expert.id == Enrollment.expert_id)
            .where(PaymentOrder.status == PaymentStatus.PAID.value)
            .group_by(Course.round_id, Expert.admission_batch))

    rounds = [[rid, name] for rid, name in session.execute(
        select(TrainingRound.id, TrainingRound.name)
        .order_by(TrainingRound.enroll_start, TrainingRound.id))]
    known = {rid for rid, _ in rounds}
    counts: dict[str, dict[str, list[int]]] = {}

    def cell(round_id: int, batch: str | None) -> list[int]:
        return counts.setdefault(_batch_key(batch), {}).setdefault(str(round_id), [0] * 6)

    for rid, batch, enrolled, paid, studying, passed in session.execute(training):
        if rid in known:
            row = cell(rid, batch)
            row[0] += int(enrolled or 0)
            row[1] += int(paid or 0)
            row[2] += int(studying or 0)
            row[3] += int(passed or 0)
    for rid, batch, n in session.execute(certificates):
        if rid in known:
            cell(rid, batch)[4] += int(n or 0)
    for rid, batch, fen in session.execute(fees):
        if rid in known:
            cell(rid, batch)[5] += int(fen or 0)
    return rounds, counts


def snapshot_data(session: Session, today: dt.date) -> dict[str, Any]:
    """Everything the 首页's charts show, grouped by 入库批次 (see the module's docstring)."""
    labels, experts = expert_snapshot(session, today)
    rounds, round_counts = round_snapshot(session)
    return {"today": today.isoformat(), "labels": labels, "experts": experts,
            "rounds": rounds, "round_counts": round_counts}


# --- from the snapshot to the charts ---------------------------------------------------

def _picked(per_batch: dict[str, dict], batch: str | None) -> list[dict]:
    """The batches the 入库批次 filter keeps: one, or all of them (the sum)."""
    if batch:
        return [per_batch[batch]] if batch in per_batch else []
    return list(per_batch.values())


def _summed(parts: list[list[int]], width: int) -> list[int]:
    total = [0] * width
    for part in parts:
        for i, n in enumerate(part[:width]):
            total[i] += n
    return total


def charts_from(data: dict[str, Any], filters: Filters) -> list[Chart]:
    """Every chart of the 首页, in the order shown, from a snapshot's data."""
    picked = _picked(data["experts"], filters.admission_batch)
    count = "专家人数"
    charts = []
    by_status: dict[object, int] = {}
    for key, title, column in EXPERT_CHARTS:
        names = data["labels"][key]
        values = _summed([p[key] for p in picked if key in p], len(names))
        rows = [[name, n] for name, n in zip(names, values, strict=True)
                if not (name == NOT_GIVEN and key != "status" and not n)]
        if key == "status":
            by_status = dict(zip(names, values, strict=True))
        charts.append(Chart(key, title, [column, count], rows))
    charts.append(funnel_chart(by_status))

    rounds = data["rounds"]
    if filters.round_id:
        rounds = [r for r in rounds if r[0] == filters.round_id]
    per_batch = _picked(data["round_counts"], filters.admission_batch)
    rows = []
    for rid, name in rounds:
        v = _summed([p[str(rid)] for p in per_batch if str(rid) in p], 6)
        rows.append([name, *v[:5], fen_to_yuan(v[5])])
    charts.append(Chart("rounds", "培训批次情况", list(ROUND_COLUMNS), rows))
    return charts


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


def dashboard_charts(session: Session, today: dt.date, filters: Filters) -> list[Chart]:
    """Every chart counted afresh, not stored (the command line, the benchmark's baseline)."""
    return charts_from(snapshot_data(session, today), filters)


def filter_choices(data: dict[str, Any]) -> tuple[list[str], list[tuple[int, str]]]:
    """The filter row's options from the snapshot: 入库批次 in use and the training rounds
    (newest first)."""
    batches = sorted((b for b in data["experts"] if b), reverse=True)
    rounds = [(rid, name) for rid, name in reversed(data["rounds"])]
    return batches, rounds


# --- the snapshot table ------------------------------------------------------------------
# KEEP computed snapshots stay (the newest is shown); a refresh asked for and never done
# (its worker died) no longer blocks a new one after ``timeout`` seconds.
KEEP = 3


def latest(session: Session) -> tuple[StatisticsSnapshot | None, bool]:
    """(the newest computed snapshot, whether a refresh is queued): one query, the newest
    computed row and the queued ones (one at a time)."""
    S = StatisticsSnapshot
    newest = select(func.max(S.computed_at)).scalar_subquery()
    rows = session.execute(select(S).where(or_(S.computed_at.is_(None), S.computed_at == newest))
                           .order_by(S.id.desc())).scalars().all()
    computed = [r for r in rows if r.is_computed]
    return (computed[0] if computed else None), any(not r.is_computed for r in rows)


def loads(snapshot: StatisticsSnapshot) -> dict[str, Any]:
    return json.loads(snapshot.data)


def compute(session: Session, today: dt.date,
            snapshot: StatisticsSnapshot | None = None) -> StatisticsSnapshot:
    """Flushes. Count everything into ``snapshot`` (a queued row) or a new row; older
    snapshots beyond KEEP are removed."""
    started = time.perf_counter()
    data = snapshot_data(session, today)
    if snapshot is None:
        snapshot = StatisticsSnapshot(requested_at=utcnow())
        session.add(snapshot)
    snapshot.data = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    snapshot.computed_at = utcnow()
    snapshot.milliseconds = int((time.perf_counter() - started) * 1000)
    session.flush()
    S = StatisticsSnapshot
    kept = select(S.id).where(S.computed_at.is_not(None)).order_by(
        S.computed_at.desc(), S.id.desc()).limit(KEEP)
    session.execute(delete(S).where(S.computed_at.is_not(None), S.id.not_in(kept))
                    .execution_options(synchronize_session=False))
    return snapshot


def request_refresh(session: Session, *, user_id: int | None, now: dt.datetime,
                    timeout: dt.timedelta) -> StatisticsSnapshot | None:
    """Flushes. A queued row for 「刷新统计」, or None when one is queued already (the
    guard: one queued refresh at a time). A queued row older than ``timeout`` was lost."""
    S = StatisticsSnapshot
    session.execute(delete(S).where(S.computed_at.is_(None), S.requested_at < now - timeout)
                    .execution_options(synchronize_session=False))
    waiting = session.execute(select(S.id).where(S.computed_at.is_(None)).limit(1)).first()
    if waiting is not None:
        return None
    row = S(requested_at=now, requested_by_id=user_id)
    session.add(row)
    session.flush()
    return row


def _withdraw(session: Session, snapshot_id: int | None = None) -> None:
    """The refresh was not sent or failed: its queued row goes, so it can be asked again."""
    if snapshot_id is not None:
        session.execute(delete(StatisticsSnapshot).where(
            StatisticsSnapshot.id == snapshot_id, StatisticsSnapshot.computed_at.is_(None)))


def _failed(session: Session, cfg: Any, exc: BaseException, snapshot_id: int | None = None) -> None:
    log.error("statistics refresh failed: %s", exc)
    _withdraw(session, snapshot_id)


@jobs.job(TASK_REFRESH, inline_setting="STATISTICS_REFRESH_INLINE", on_error=_failed,
          on_unsent=_withdraw)
def refresh_job(session: Session, cfg: Any, snapshot_id: int | None = None) -> int | None:
    """The Celery task's body: count into the queued row ``snapshot_id`` (done already: a
    redelivered message, nothing to do) or, from celery beat, into the oldest queued row
    or a new one. Commits."""
    S = StatisticsSnapshot
    if snapshot_id is not None:
        row = session.get(S, snapshot_id)
        if row is None or row.is_computed:
            return None
    else:
        row = session.execute(select(S).where(S.computed_at.is_(None))
                              .order_by(S.id).limit(1)).scalar_one_or_none()
    done = compute(session, beijing_today(), row)
    unit_of_work.commit(session)
    return done.id


__all__ = ["AGE_BANDS", "TASK_REFRESH", "Chart", "Filters", "charts_from", "compute",
           "dashboard_charts", "fen_to_yuan", "filter_choices", "funnel_chart", "latest",
           "loads", "refresh_job", "request_refresh", "snapshot_data", "years_before"]
