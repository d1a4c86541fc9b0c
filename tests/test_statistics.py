"""首页 统计分析 and 待办: every chart's numbers against hand counts of a fixture and against
independent SQL; the filters; the 待办 counts against the rows of the lists they link to; who
may open the page; the xlsx export."""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
from collections import Counter
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from app.models import (
    AttemptStatus,
    Certificate,
    ChangeStatus,
    Course,
    Enrollment,
    ExamAnswer,
    ExamAttempt,
    Expert,
    ExpertStatus,
    PaymentOrder,
    PaymentStatus,
    Prefecture,
    ProfileChange,
    Question,
    ReviewStatus,
    Specialty,
    Title,
    TrainingRound,
    TransferRequest,
    beijing_today,
    utcnow,
)
from app.services import statistics, todo
from app.services.statistics import AGE_BANDS, Filters, years_before
from tests.conftest import login, login_expert, login_staff, page_text, unique_identity


@pytest.fixture(autouse=True)
def refresh_inline(app):
    """「刷新统计」 counts right after the request's commit, in the test's transaction."""
    saved = app.config.get("STATISTICS_REFRESH_INLINE")
    app.config["STATISTICS_REFRESH_INLINE"] = True
    yield
    app.config["STATISTICS_REFRESH_INLINE"] = saved


def _snapshot(session) -> dict:
    """Run the snapshot job (as celery beat does), then read the newest snapshot as the
    page does: every number below comes from the stored snapshot."""
    assert statistics.refresh_job(session, {}) is not None
    snapshot, _ = statistics.latest(session)
    return statistics.loads(snapshot)


def _snapshot_charts(session, filters: Filters) -> list:
    return statistics.charts_from(_snapshot(session), filters)


TODAY = beijing_today()
# (市州, status, leaf 专业 code, 职称, birth date): ages chosen on the bands' edges
PEOPLE = [
    ("乌鲁木齐市", ExpertStatus.ADMITTED, "A0101", "高级工程师", years_before(TODAY, 40)),  # 40 today
    ("乌鲁木齐市", ExpertStatus.ADMITTED, "A0102", "高级工程师",
     years_before(TODAY, 40) + dt.timedelta(days=1)),  # 39
    ("乌鲁木齐市", ExpertStatus.PENDING, "A0201", "工程师", years_before(TODAY, 50)),  # 50
    ("克拉玛依市", ExpertStatus.DRAFT, "A0202", "工程师",
     years_before(TODAY, 60) + dt.timedelta(days=1)),  # 59
    ("克拉玛依市", ExpertStatus.RETURNED, "A0101", "高级工程师", years_before(TODAY, 60)),  # 60
    ("克拉玛依市", ExpertStatus.ADMITTED, "A0103", "正高级工程师", years_before(TODAY, 70)),  # 70
    ("吐鲁番市", ExpertStatus.SUSPENDED, "A0101", "助理工程师", years_before(TODAY, 45)),  # 45
    ("吐鲁番市", ExpertStatus.ADMITTED, "A0201", None, None),  # no 职称, no birth date
]


def _band(birth: dt.date | None) -> str:
    if birth is None:
        return statistics.NOT_GIVEN
    age = TODAY.year - birth.year - ((TODAY.month, TODAY.day) < (birth.month, birth.day))
    for label, low, high in AGE_BANDS:
        if age >= low and (high is None or age <= high):
            return label
    raise AssertionError(age)


def _new_expert(session, name: str, batch: str, prefecture: str, status: ExpertStatus,
                specialty: str, title: str | None, birth: dt.date | None, no: str | None = None):
    id_number, phone = unique_identity()
    expert = Expert(
        name=name, id_number=id_number, phone=phone, status=status.value, admission_batch=batch,
        admission_type="新聘", expert_no=no,
        prefecture=session.query(Prefecture).filter_by(name=prefecture).one(),
        main_specialty=session.query(Specialty).filter_by(code=specialty).one(),
        title=session.query(Title).filter_by(name=title).one() if title else None,
        birth_date=birth, submitted_at=utcnow())
    session.add(expert)
    return expert


@pytest.fixture
def registry(app):
    """PEOPLE in a 入库批次 of their own, plus two experts of another batch."""
    from app.extensions import db

    batch = f"统计{uuid.uuid4().hex[:6]}批"
    other = f"其他{uuid.uuid4().hex[:6]}批"
    with app.app_context():
        experts = [_new_expert(db.session, f"统计专家{i}", batch, *p, no=f"TJ{uuid.uuid4().hex[:8]}")
                   for i, p in enumerate(PEOPLE)]
        _new_expert(db.session, "其他专家1", other, "哈密市", ExpertStatus.ADMITTED, "A0101",
                    "工程师", years_before(TODAY, 33))
        _new_expert(db.session, "其他专家2", other, "哈密市", ExpertStatus.PENDING, "A0101",
                    "工程师", years_before(TODAY, 33))
        db.session.commit()
        ids = [e.id for e in experts]
        db.session.remove()
    return batch, other, ids


def _chart(charts, key):
    return {c.key: c for c in charts}[key]


def _rows(chart) -> dict:
    return {r[0]: r[1] for r in chart.rows}


def test_expert_charts_equal_hand_counts(app, registry):
    from app.extensions import db

    batch, _, _ = registry
    with app.app_context():
        charts = _snapshot_charts(db.session, Filters(admission_batch=batch))
        specialties = {s.code: s for s in db.session.query(Specialty)}
        titles = {t.name: t.level.name for t in db.session.query(Title)}
        top = {code: specialties[code[:3]].name for code in specialties}

    pref = _rows(_chart(charts, "prefecture"))
    assert {k: v for k, v in pref.items() if v} == dict(Counter(p[0] for p in PEOPLE))
    assert "昌吉回族自治州" in pref  # every 市州 is listed, with its 0

    status = _rows(_chart(charts, "status"))
    assert status == {s.value: sum(1 for p in PEOPLE if p[1] == s) for s in ExpertStatus}

    spec = _rows(_chart(charts, "specialty"))
    assert {k: v for k, v in spec.items() if v} == dict(Counter(top[p[2]] for p in PEOPLE))

    title = _rows(_chart(charts, "title"))
    expected_titles = Counter(titles[p[3]] if p[3] else statistics.NOT_GIVEN for p in PEOPLE)
    assert {k: v for k, v in title.items() if v} == dict(expected_titles)

    age = _rows(_chart(charts, "age"))
    assert {k: v for k, v in age.items() if v} == dict(Counter(_band(p[4]) for p in PEOPLE))
    assert age["40岁以下"] == 1 and age["40–49岁"] == 2 and age["70岁及以上"] == 1  # the edges

    funnel = _rows(_chart(charts, "funnel"))
    assert funnel == {"全部申请": 8, "草稿": 1, "已提交审核": 7, "待审核": 1, "已入库": 4, "已退回": 1}


def test_expert_charts_equal_independent_sql(app, registry):
    """Unfiltered, whatever else the database holds: plain GROUP BYs written apart."""
    from app.extensions import db

    with app.app_context():
        charts = _snapshot_charts(db.session, Filters())
        q = lambda sql, **kw: dict(db.session.execute(text(sql), kw).all())  # noqa: E731
        by_pref = q("SELECT p.name, count(e.id) FROM prefecture p LEFT JOIN expert e "
                    "ON e.prefecture_id = p.id GROUP BY p.name")
        by_status = q("SELECT status, count(*) FROM expert GROUP BY status")
        by_top = q("SELECT coalesce(t.name, s.name), count(*) FROM expert e "
                   "JOIN specialty s ON s.id = e.main_specialty_id "
                   "LEFT JOIN specialty t ON t.id = s.parent_id GROUP BY coalesce(t.name, s.name)")
        by_level = q("SELECT l.name, count(*) FROM expert e JOIN title t ON t.id = e.title_id "
                     "JOIN title_level l ON l.id = t.level_id GROUP BY l.name")
        no_title = db.session.execute(text(
            "SELECT count(*) FROM expert WHERE title_id IS NULL")).scalar()
        births = [b for (b,) in db.session.execute(text("SELECT birth_date FROM expert"))]
        total = db.session.execute(text("SELECT count(*) FROM expert")).scalar()

    assert {k: v for k, v in _rows(_chart(charts, "prefecture")).items()
            if k != statistics.NOT_GIVEN} == by_pref
    assert {k: v for k, v in _rows(_chart(charts, "status")).items() if v} == by_status
    assert {k: v for k, v in _rows(_chart(charts, "specialty")).items() if v} == by_top
    title = _rows(_chart(charts, "title"))
    assert {k: v for k, v in title.items() if v and k != statistics.NOT_GIVEN} == by_level
    assert title.get(statistics.NOT_GIVEN, 0) == no_title
    as_date = [b if isinstance(b, dt.date) else (dt.date.fromisoformat(b) if b else None)
               for b in births]
    assert {k: v for k, v in _rows(_chart(charts, "age")).items() if v} == dict(
        Counter(_band(b) for b in as_date))
    for chart in charts[:5]:
        assert chart.total == total, chart.key


@pytest.fixture
def rounds(app, registry):
    """Two rounds of two courses for the batch's first four experts:
    expert 0: both courses paid and 合格, certificate; expert 1: both paid, one 合格 (学习中);
    expert 2: paid one course, 不合格 then 补学 合格, other unpaid (学习中);
    expert 3: enrolled, nothing paid. Round B: expert 0 paid, nothing else."""
    from app.extensions import db

    batch, _, ids = registry
    now = utcnow()
    tag = uuid.uuid4().hex[:6]
    with app.app_context():
        ra = TrainingRound(name=f"统计轮A{tag}", admission_batches=batch, fee_fen=30000,
                           enroll_start=now - dt.timedelta(days=20), enroll_end=now + dt.timedelta(days=9))
        rb = TrainingRound(name=f"统计轮B{tag}", admission_batches=batch, fee_fen=12345,
                           enroll_start=now - dt.timedelta(days=10), enroll_end=now + dt.timedelta(days=9))
        db.session.add_all([ra, rb])
        c1, c2 = Course(round=ra, name="课程一"), Course(round=ra, name="课程二")
        c3 = Course(round=rb, name="课程三")
        db.session.add_all([c1, c2, c3])
        db.session.flush()
        experts = [db.session.get(Expert, i) for i in ids]
        n = iter(range(1000))

        def enrol(expert, course, *, paid=False, result=ReviewStatus.PENDING, attempt=1,
                  fee=30000):
            e = Enrollment(expert_id=expert.id, course_id=course.id, attempt_no=attempt,
                           paid_at=now if paid else None, review_status=result.value,
                           completed=result == ReviewStatus.PASSED)
            db.session.add(e)
            db.session.flush()
            db.session.add(PaymentOrder(
                order_no=f"TJ{tag}{next(n):04d}", enrollment_id=e.id, expert_no=expert.expert_no,
                amount_fen=fee, kind="培训费",
                status=(PaymentStatus.PAID if paid else PaymentStatus.UNPAID).value,
                paid_at=now if paid else None))
            return e

        P, F = ReviewStatus.PASSED, ReviewStatus.FAILED
        first = enrol(experts[0], c1, paid=True, result=P)
        enrol(experts[0], c2, paid=True, result=P)
        enrol(experts[1], c1, paid=True, result=P)
        enrol(experts[1], c2, paid=True)
        enrol(experts[2], c1, paid=True, result=F)
        enrol(experts[2], c1, paid=True, result=P, attempt=2, fee=10000)
        enrol(experts[2], c2)
        enrol(experts[3], c1)
        enrol(experts[3], c2)
        enrol(experts[0], c3, paid=True, fee=12345)
        db.session.add(Certificate(
            number=f"CERT{tag}", expert_id=experts[0].id, round_id=ra.id, enrollment_id=first.id,
            holder_name=experts[0].name, expert_no=experts[0].expert_no, id_number_masked="6501**",
            round_name=ra.name, hours=2, issued_on=TODAY))
        db.session.commit()
        out = ra.id, ra.name, rb.id, rb.name
        db.session.remove()
    return out


def test_round_chart_counts_people_and_fees(app, registry, rounds):
    from app.extensions import db

    batch, other, _ = registry
    ra_id, ra_name, rb_id, rb_name = rounds
    with app.app_context():
        data = _snapshot(db.session)

        def round_chart(filters):
            return _chart(statistics.charts_from(data, filters), "rounds")

        chart = round_chart(Filters(admission_batch=batch))
        by_name = {r[0]: r[1:] for r in chart.rows}
        # 报名, 已缴费, 学习中, 考试合格, 已发证书, 已收费用（元）
        assert by_name[ra_name] == [4, 3, 2, 1, 1, Decimal("1600.00")]
        assert by_name[rb_name] == [1, 1, 1, 0, 0, Decimal("123.45")]
        only_b = round_chart(Filters(round_id=rb_id))
        assert [r[0] for r in only_b.rows] == [rb_name]
        assert only_b.rows[0][1:] == [1, 1, 1, 0, 0, Decimal("123.45")]
        none_of_other = round_chart(Filters(admission_batch=other, round_id=ra_id))
        assert none_of_other.rows == [[ra_name, 0, 0, 0, 0, 0, Decimal("0.00")]]
        # the fees equal an independent sum of the paid orders
        fen = db.session.execute(text(
            "SELECT sum(o.amount_fen) FROM payment_order o JOIN enrollment e ON e.id = o.enrollment_id "
            "JOIN course c ON c.id = e.course_id WHERE c.round_id = :r AND o.status = :paid"),
            {"r": ra_id, "paid": PaymentStatus.PAID.value}).scalar()
        assert Decimal(fen) / 100 == by_name[ra_name][5]


def test_filters_apply_to_every_expert_chart(app, registry):
    from app.extensions import db

    batch, other, _ = registry
    with app.app_context():
        charts = _snapshot_charts(db.session, Filters(admission_batch=other))
        for chart in charts[:5]:
            assert chart.total == 2, chart.key
        assert _rows(_chart(charts, "prefecture"))["哈密市"] == 2
        batches, _ = statistics.filter_choices(_snapshot(db.session))
        assert batch in batches and other in batches


# ----------------------------------------------------------------------------- the page

def _recount(app) -> None:
    """The snapshot job, as celery beat runs it, after the fixtures' rows."""
    from app.extensions import db

    with app.app_context():
        _snapshot(db.session)
        db.session.remove()


def test_page_shows_the_numbers_and_the_filters(app, client, registry, rounds):
    batch, _, _ = registry
    _recount(app)
    login_staff(client)
    resp = client.get("/dashboard/", query_string={"batch": batch})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    data = json.loads(re.search(r"id=\"chart-status\" data-chart='([^']*)'", html).group(1)
                      .replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&"))
    assert dict(zip(data["categories"], data["series"][0]["data"], strict=True))["已入库"] == 4
    text_ = page_text(resp)
    assert "查看表格" in text_ and "导出" in text_ and "查询" in text_ and "重置" in text_
    assert "1600.00" in text_  # fees in 元, 2 decimals
    assert "vendor/echarts/echarts.min.js" in html and "dashboard.js" in html
    assert "onclick" not in html and not re.search(r'(src|href)="(https?:)?//', html)  # nothing outside
    # the round filter: only that round in the round chart
    _, ra_name, rb_id, rb_name = rounds
    only = client.get("/dashboard/", query_string={"round": rb_id}).get_data(as_text=True)
    table = only.split('id="table-rounds"', 1)[1].split("</table>", 1)[0]
    assert rb_name in table and ra_name not in table
    # letters or a missing round are no error
    assert client.get("/dashboard/?round=abc&batch=" + "x" * 300).status_code == 200


def test_staff_land_on_the_dashboard(app, client):
    login_staff(client)
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dashboard/")
    menu = client.get("/dashboard/").get_data(as_text=True)
    assert "统计分析" in menu
    assert "用户统计" not in menu and "userstatschartview" not in menu.lower()


def test_fab_user_statistics_are_gone(app, client):
    login_staff(client, "testadmin")
    assert client.get("/userstatschartview/chart/").status_code == 404
    html = client.get("/dashboard/").get_data(as_text=True)
    assert "userstatschartview" not in html.lower() and "用户统计" not in html
    assert not [v for v in app.appbuilder.baseviews if type(v).__name__ == "UserStatsChartView"]


def test_who_may_open_the_dashboard(app, client, make_expert):
    resp = client.get("/dashboard/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.get("/dashboard/export/status").status_code == 302
    account = make_expert("统计页专家", status=ExpertStatus.ADMITTED)
    login_expert(client, account)
    for url in ("/dashboard/", "/dashboard/export/status"):
        resp = client.get(url)
        assert resp.status_code in (302, 403), url
        if resp.status_code == 302:
            assert "/dashboard" not in resp.headers["Location"]
    html = client.get("/expert/").get_data(as_text=True)
    assert "todo-badge" not in html and "统计分析" not in html


def test_auditor_sees_statistics_but_no_review_queue(app, client):
    from app.extensions import db
    from app.services.demo import create_staff_user
    from app.services.roles import ROLE_AUDITOR
    from tests.conftest import STAFF_PASSWORD

    with app.app_context():
        name = f"audit{uuid.uuid4().hex[:6]}"
        create_staff_user(app.appbuilder.sm, name, "统计审计员", f"{name}@example.gov.cn",
                          ROLE_AUDITOR, STAFF_PASSWORD)
        db.session.commit()
        db.session.remove()
    assert login(client, name, STAFF_PASSWORD, "staff").status_code == 302
    resp = client.get("/dashboard/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="todo-cards"' not in html and "todo-badge" not in html
    assert client.get("/reviewqueueview/list/").status_code in (302, 403)


def test_export_is_the_charts_table(app, client, registry, rounds):
    batch, _, _ = registry
    _, ra_name, _, _ = rounds
    _recount(app)
    login_staff(client)
    resp = client.get("/dashboard/export/rounds", query_string={"batch": batch})
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ws = load_workbook(io.BytesIO(resp.data)).active
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0] == ["培训批次", "报名人数", "已缴费", "学习中", "考试合格", "已发证书", "已收费用（元）"]
    assert [ra_name, 4, 3, 2, 1, 1, "1600.00"] in rows
    status = load_workbook(io.BytesIO(client.get(
        "/dashboard/export/status", query_string={"batch": batch}).data)).active
    assert dict((r[0].value, r[1].value) for r in status.iter_rows(min_row=2))["已入库"] == 4
    assert client.get("/dashboard/export/nothing").status_code == 404


# ----------------------------------------------------------------------------- the snapshot

def _snapshots(session) -> list:
    from app.models import StatisticsSnapshot

    return session.query(StatisticsSnapshot).order_by(StatisticsSnapshot.id).all()


def test_the_page_reads_the_snapshot_not_the_registry(app, client, registry):
    """Rows entered after the snapshot are not counted until it is refreshed; the page
    says when the numbers it shows were counted."""
    from app.extensions import db
    from app.models import local_time

    batch, _, _ = registry
    with app.app_context():
        _snapshot(db.session)
        shown_at = local_time(statistics.latest(db.session)[0].computed_at)
        _new_expert(db.session, "快照后专家", batch, "哈密市", ExpertStatus.ADMITTED, "A0101",
                    "工程师", years_before(TODAY, 41), no=f"TJ{uuid.uuid4().hex[:8]}")
        db.session.commit()
        db.session.remove()
    login_staff(client)
    html = client.get("/dashboard/", query_string={"batch": batch}).get_data(as_text=True)
    assert f'<span id="counted-at">{shown_at}</span>' in html
    table = html.split('id="table-status"', 1)[1].split("</table>", 1)[0]
    assert "<td>已入库</td><td class=num>4</td>" in table.replace("\n", "")
    _recount(app)
    html = client.get("/dashboard/", query_string={"batch": batch}).get_data(as_text=True)
    table = html.split('id="table-status"', 1)[1].split("</table>", 1)[0]
    assert "<td>已入库</td><td class=num>5</td>" in table.replace("\n", "")


def test_the_page_reads_one_snapshot_row(app, client, registry, count_queries):
    _recount(app)
    login_staff(client)
    client.get("/dashboard/")
    with count_queries() as counted:
        assert client.get("/dashboard/").status_code == 200
    snapshot_reads = [s for s in counted.statements if "statistics_snapshot" in s]
    assert len(snapshot_reads) == 1, snapshot_reads
    assert not [s for s in counted.statements if "GROUP BY" in s.upper() and "expert" in s]


def test_without_a_snapshot_the_page_counts_one_and_keeps_it(app, client, registry):
    from app.extensions import db
    from app.models import StatisticsSnapshot

    batch, _, _ = registry
    with app.app_context():
        db.session.query(StatisticsSnapshot).delete()
        db.session.commit()
        db.session.remove()
    login_staff(client)
    resp = client.get("/dashboard/", query_string={"batch": batch})
    assert resp.status_code == 200
    assert "<td>已入库</td><td class=num>4</td>" in resp.get_data(as_text=True).replace("\n", "")
    with app.app_context():
        kept = _snapshots(db.session)
        assert len(kept) == 1 and kept[0].is_computed
        db.session.remove()


def test_the_sums_over_batches_are_the_unfiltered_charts(app, registry):
    """The snapshot keeps each 入库批次's rows; the unfiltered chart is their sum."""
    from app.extensions import db

    with app.app_context():
        data = _snapshot(db.session)
        every = statistics.charts_from(data, Filters())
        summed = [Counter() for _ in every]
        for batch, counts in data["experts"].items():
            one = statistics.charts_from({**data, "experts": {batch: counts},
                                          "round_counts": {batch: data["round_counts"].get(batch, {})}},
                                         Filters())
            for i, chart in enumerate(one):
                for row in chart.rows:
                    summed[i][row[0]] += row[1]
        for i, chart in enumerate(every):
            assert {k: v for k, v in summed[i].items() if v} == \
                {r[0]: r[1] for r in chart.rows if r[1]}, chart.key
        assert statistics.charts_from(data, Filters(admission_batch="没有这个批次"))[0].total == 0
        db.session.remove()


@pytest.fixture
def sent(monkeypatch):
    """What would go to the broker (INLINE off: the worker is not here)."""
    from app.services import jobs

    calls: list = []
    monkeypatch.setattr(jobs.celery, "send_task",
                        lambda name, **kw: calls.append((name, kw.get("args"))))
    return calls


def test_refresh_queues_one_refresh_at_a_time(app, client, registry, sent):
    from app.extensions import db

    app.config["STATISTICS_REFRESH_INLINE"] = False
    login_staff(client)
    page = client.get("/dashboard/").get_data(as_text=True)
    assert 'id="btn-refresh"' in page and 'name="csrf_token"' in page
    with app.app_context():
        before = len(_snapshots(db.session))
        db.session.remove()
    resp = client.post("/dashboard/refresh/", data={"batch": registry[0]})
    assert resp.status_code == 302 and "/dashboard/?batch=" in resp.headers["Location"]
    assert len(sent) == 1 and sent[0][0] == statistics.TASK_REFRESH
    queued_id = sent[0][1][0]
    page = client.get("/dashboard/").get_data(as_text=True)
    assert "已开始刷新统计" in page and 'id="refreshing"' in page
    assert re.search(r'id="btn-refresh"\s+disabled', page)
    # a second click queues nothing
    client.post("/dashboard/refresh/")
    assert len(sent) == 1
    assert "统计正在刷新，请稍后查看" in client.get("/dashboard/").get_data(as_text=True)
    with app.app_context():
        assert len(_snapshots(db.session)) == before + 1
        # the worker runs it; a redelivered message finds it done and does nothing
        assert statistics.refresh_job(db.session, {}, queued_id) == queued_id
        assert statistics.refresh_job(db.session, {}, queued_id) is None
        newest, queued = statistics.latest(db.session)
        assert newest.id == queued_id and not queued
        db.session.remove()
    page = client.get("/dashboard/").get_data(as_text=True)
    assert 'id="refreshing"' not in page
    client.post("/dashboard/refresh/")
    assert len(sent) == 2


def test_a_lost_refresh_does_not_block_the_next(app, registry):
    from app.extensions import db
    from app.models import StatisticsSnapshot

    with app.app_context():
        now = utcnow()
        limit = dt.timedelta(seconds=300)
        db.session.add(StatisticsSnapshot(requested_at=now - dt.timedelta(seconds=301)))
        db.session.flush()
        row = statistics.request_refresh(db.session, user_id=None, now=now, timeout=limit)
        assert row is not None
        assert statistics.request_refresh(db.session, user_id=None, now=now, timeout=limit) is None
        # celery beat's run fills the queued row rather than adding one
        assert statistics.refresh_job(db.session, {}) == row.id
        assert [s for s in _snapshots(db.session) if not s.is_computed] == []
        # only the newest few snapshots are kept
        for _ in range(statistics.KEEP + 2):
            statistics.refresh_job(db.session, {})
        assert len(_snapshots(db.session)) == statistics.KEEP
        db.session.remove()


def test_the_refresh_is_a_scheduled_task_with_a_time_limit(app):
    from app import tasks
    from app.extensions import celery

    task = celery.tasks[statistics.TASK_REFRESH]
    assert task.name == tasks.refresh_statistics.name == "statistics.refresh"
    assert task.time_limit and task.soft_time_limit < task.time_limit
    assert task.time_limit < app.config["CELERY_VISIBILITY_TIMEOUT"]
    schedule = celery.conf.beat_schedule["statistics"]
    assert schedule == {"task": statistics.TASK_REFRESH,
                        "schedule": app.config["STATISTICS_REFRESH_SECONDS"]}
    assert "STATISTICS_CACHE_SECONDS" not in app.config


def test_who_may_refresh(app, client, make_expert, sent):
    from app.extensions import db
    from app.services.demo import create_staff_user
    from app.services.roles import ROLE_AUDITOR
    from tests.conftest import STAFF_PASSWORD

    app.config["STATISTICS_REFRESH_INLINE"] = False
    resp = client.post("/dashboard/refresh/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    account = make_expert("刷新统计专家", status=ExpertStatus.ADMITTED)
    login_expert(client, account)
    resp = client.post("/dashboard/refresh/")
    assert resp.status_code in (302, 403)
    if resp.status_code == 302:
        assert "/dashboard" not in resp.headers["Location"]
    client.get("/logout/")
    with app.app_context():
        name = f"audit{uuid.uuid4().hex[:6]}"
        create_staff_user(app.appbuilder.sm, name, "刷新审计员", f"{name}@example.gov.cn",
                          ROLE_AUDITOR, STAFF_PASSWORD)
        db.session.commit()
        db.session.remove()
    other = app.test_client()
    assert login(other, name, STAFF_PASSWORD, "staff").status_code == 302
    html = other.get("/dashboard/").get_data(as_text=True)
    assert 'id="btn-refresh"' not in html and 'id="counted-at"' in html
    resp = other.post("/dashboard/refresh/")
    assert resp.status_code in (302, 403)
    assert not sent
    login_staff(other := app.test_client())
    assert other.get("/dashboard/refresh/").status_code == 405


# ----------------------------------------------------------------------------- 待办

def _list_count(shown: str) -> int:
    """A list's row count as it says it: FAB's 记录数目: N, or 共 N 条."""
    found = re.search(r"(?:记录数目\s*:\s*|共\s*)(\d+)", shown)
    return int(found.group(1)) if found else 0


@pytest.fixture
def waiting(app, registry, rounds):
    """Something in every queue: a transfer and a 专业 change waiting (one decided each),
    two short answers to grade (one graded)."""
    from app.extensions import db

    _, _, ids = registry
    with app.app_context():
        experts = [db.session.get(Expert, i) for i in ids]
        hami = db.session.query(Prefecture).filter_by(name="哈密市").one()
        db.session.add(TransferRequest(expert_id=experts[0].id, from_prefecture=experts[0].prefecture,
                                       to_prefecture=hami, reason="工作调动"))
        db.session.add(TransferRequest(expert_id=experts[1].id, to_prefecture=hami, reason="工作调动",
                                       status=ChangeStatus.APPROVED.value))
        db.session.add(ProfileChange(expert_id=experts[0].id, section="专业技术", field="从事专业类别",
                                     before="甲", after="乙", status=ChangeStatus.PENDING.value))
        db.session.add(ProfileChange(expert_id=experts[1].id, section="基本信息", field="工作单位",
                                     before="甲", after="乙"))
        enrollment = db.session.query(Enrollment).filter_by(expert_id=experts[1].id).first()
        question = Question(course_id=enrollment.course_id, kind="简答", text="简述招标流程", answer="略")
        db.session.add(question)
        db.session.flush()
        now = utcnow()
        attempt = ExamAttempt(enrollment_id=enrollment.id, question_ids=json.dumps([question.id]),
                              deadline=now, submitted_at=now, status=AttemptStatus.PENDING.value)
        db.session.add(attempt)
        db.session.flush()
        db.session.add(ExamAnswer(attempt_id=attempt.id, question_id=question.id, answer="答",
                                  max_points=10))
        db.session.commit()
        db.session.remove()


def test_todo_counts_equal_the_rows_of_their_lists(app, client, waiting):
    from app.extensions import db

    with app.app_context():
        expected = {
            "applications": db.session.query(Expert).filter_by(status=ExpertStatus.PENDING.value).count(),
            "transfers": db.session.query(TransferRequest).filter_by(
                status=ChangeStatus.PENDING.value).count(),
            "profile_changes": db.session.query(ProfileChange).filter_by(
                status=ChangeStatus.PENDING.value).count(),
            "payments": db.session.query(PaymentOrder).filter_by(status=PaymentStatus.UNPAID.value).count(),
        }
    assert all(expected.values())
    login_staff(client)
    html = client.get("/dashboard/").get_data(as_text=True)
    found = re.findall(r'id="todo-(\w+)" href="([^"]+)">\s*<span class="todo-count">(\d+)</span>', html)
    cards = {k: (u.replace("&amp;", "&"), int(n)) for k, u, n in found}
    assert set(cards) == {"applications", "transfers", "profile_changes", "grading", "payments"}
    for key, n in expected.items():
        url, shown = cards[key]
        assert shown == n, key
        listed = client.get(url)
        assert listed.status_code == 200, url
        assert _list_count(page_text(listed)) == n, (key, url)
    url, shown = cards["grading"]
    grading = client.get(url).get_data(as_text=True)
    assert shown == grading.count('class="panel panel-default grading-item"') >= 1
    # the badges beside the menu items, and their category's sum
    badges = dict(re.findall(r'<span class="badge todo-badge" data-menu="([^"]+)">(\d+)</span>', html))
    assert int(badges["待审核申请"]) == expected["applications"]
    assert int(badges["异动审核"]) == expected["transfers"]
    assert int(badges["修改记录"]) == expected["profile_changes"]
    assert int(badges["线下对账"]) == expected["payments"]
    assert int(badges["批阅"]) == shown
    assert int(badges["专家库"]) == expected["transfers"] + expected["profile_changes"]


def test_todo_counts_are_one_statement(app, count_queries, waiting):
    from app.extensions import db

    with app.app_context(), count_queries() as counted:
        counts = todo.todo_counts(db.session, todo.KINDS)
    assert counted.count == 1, counted.statements
    assert set(counts) == {k.key for k in todo.KINDS} and counts["grading"] >= 1
    with app.app_context(), count_queries() as none:
        assert todo.todo_counts(db.session, []) == {}
    assert none.count == 0


def test_english_dashboard(app, client, registry):
    login_staff(client)
    client.get("/lang/en")
    resp = client.get("/dashboard/")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "langEN.js" in html
    assert "Statistics" in html and "View table" in html
    client.get("/lang/zh")
