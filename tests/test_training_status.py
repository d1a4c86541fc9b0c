"""培训情况 (issue 13): every enrolled expert of a round with payment, 学习进度, 批阅状态,
补学, 培训完毕 and certificate; filters by round, payment, 培训完毕 and 所在市州; export."""
from __future__ import annotations

import datetime as dt
import io
import itertools

import pytest
from openpyxl import load_workbook

from app.models import ExpertStatus, utcnow
from tests.conftest import login, login_staff, page_text
from tests.test_certificate import _issue

_n = itertools.count(1)


@pytest.fixture
def round_states(app, make_expert):
    """A round of one course (60 minutes) and an expert in each state."""
    from app.extensions import db
    from app.models import Course, Enrollment, Expert, PaymentOrder, TrainingRound

    with app.app_context():
        now = utcnow()
        rnd = TrainingRound(name=f"培训情况批次{next(_n)}", admission_batches="不参训",
                            fee_fen=30000, enroll_start=now,
                            enroll_end=now + dt.timedelta(days=30), active=False)
        rnd.courses = [Course(name="评标法规", required_minutes=60)]
        db.session.add(rnd)
        db.session.commit()
        round_id, course_id = rnd.id, rnd.courses[0].id
        db.session.remove()
    states = {
        "unpaid": {},
        "paid": {"paid_at": True},
        "studying": {"paid_at": True, "credited_seconds": 30 * 60},
        "passed": {"paid_at": True, "credited_seconds": 3600, "review_status": "合格",
                   "completed": True},
        "makeup": {"paid_at": True, "credited_seconds": 600, "attempt_no": 2},
        "failed": {"paid_at": True, "credited_seconds": 3600, "review_status": "不合格"},
    }
    accounts = {}
    for key, fields in states.items():
        prefecture = "喀什地区" if key == "unpaid" else "乌鲁木齐市"
        account = make_expert(f"情况{key}", status=ExpertStatus.ADMITTED, prefecture=prefecture)
        with app.app_context():
            expert = db.session.get(Expert, account.expert_id)
            expert.expert_no = f"XJ2097{account.expert_id:06d}"
            values = {**fields, "paid_at": utcnow() if fields.get("paid_at") else None}
            if values.get("attempt_no") == 2:  # the first attempt failed, this is 补学
                db.session.add(Enrollment(expert=expert, course_id=course_id, attempt_no=1,
                                          paid_at=utcnow(), review_status="不合格",
                                          credited_seconds=3600))
            enrollment = Enrollment(expert=expert, course_id=course_id, **values)
            db.session.add(enrollment)
            if values["paid_at"]:
                db.session.add(PaymentOrder(
                    order_no=f"PQK{account.expert_id}{next(_n)}", enrollment=enrollment,
                    expert_no=expert.expert_no, amount_fen=30000, kind="培训费",
                    status="已支付", paid_at=values["paid_at"]))
            db.session.commit()
            account.expert_no = expert.expert_no
            account.round_id = round_id
            db.session.remove()
        accounts[key] = account
    _issue(app, accounts["passed"], round_id)
    return round_id, accounts


def _rows(resp) -> list[dict]:
    assert resp.status_code == 200, resp.status_code
    rows = list(load_workbook(io.BytesIO(resp.data)).active.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def test_rows_and_states(app, round_states):
    round_id, accounts = round_states
    client = app.test_client()
    login_staff(client)
    rows = _rows(client.get(f"/training/status/export/?_flt_0_round={round_id}"))
    assert len(rows) == 7  # six experts, one of them twice (补学)
    by = {}
    for row in rows:
        by.setdefault(row["姓名"], []).append(row)
    unpaid = by["情况unpaid"][0]
    assert unpaid["缴费状态"] == "待支付" and unpaid["学习进度"] == "0/60 分钟（0%）"
    assert unpaid["所在市州"] == "喀什地区" and unpaid["是否补学"] == "否"
    assert unpaid["身份证号"] != accounts["unpaid"].id_number and "*" in unpaid["身份证号"]
    assert unpaid["专家编号"] == accounts["unpaid"].expert_no
    assert unpaid["培训批次"].startswith("培训情况批次") and unpaid["课程名称"] == "评标法规"
    paid = by["情况paid"][0]
    assert paid["缴费状态"] == "已支付" and paid["批阅状态"] == "待批阅"
    assert paid["缴费时间"] and "." not in paid["缴费时间"]
    assert by["情况studying"][0]["学习进度"] == "30/60 分钟（50%）"
    passed = by["情况passed"][0]
    assert passed["批阅状态"] == "合格" and passed["培训完毕"] == "是"
    assert passed["证书编号"] and passed["证书编号"].startswith("JX")
    assert by["情况failed"][0]["批阅状态"] == "不合格" and not by["情况failed"][0]["证书编号"]
    makeup = sorted(by["情况makeup"], key=lambda r: r["是否补学"])
    assert [r["是否补学"] for r in makeup] == ["否", "是"]
    assert makeup[1]["学习进度"] == "10/60 分钟（16%）"
    for row in rows:
        if row["姓名"] != "情况passed":
            assert row["培训完毕"] == "否" and not row["证书编号"]


def test_filters(app, round_states):
    from app.extensions import db
    from app.models import Prefecture

    round_id, accounts = round_states
    client = app.test_client()
    login_staff(client)
    base = f"/training/status/export/?_flt_0_round={round_id}"
    names = lambda url: sorted(r["姓名"] for r in _rows(client.get(url)))  # noqa: E731
    assert names(base + "&_flt_0_payment_state=待支付") == ["情况unpaid"]
    assert "情况unpaid" not in names(base + "&_flt_0_payment_state=已支付")
    assert names(base + "&_flt_0_completed=y") == ["情况passed"]
    assert names(base + "&_flt_0_review_status=不合格") == ["情况failed", "情况makeup"]
    with app.app_context():
        kashgar = db.session.query(Prefecture).filter_by(name="喀什地区").one().id
        db.session.remove()
    assert names(base + f"&_flt_0_prefecture={kashgar}") == ["情况unpaid"]
    # nonsense values are no filter, never an error
    for bad in ("_flt_0_round=abc", "_flt_0_round=99999999999999999999",
                "_flt_0_prefecture=x", "_flt_0_payment_state=x"):
        assert client.get(f"/training/status/list/?{bad}").status_code == 200
    # the list page shows the same
    text = page_text(client.get(f"/training/status/list/?_flt_0_round={round_id}"
                                "&_flt_0_payment_state=待支付"))
    assert "情况unpaid" in text and "情况paid" not in text
    assert "培训情况" in text


def test_who_may_see_it(app, round_states):
    _round_id, accounts = round_states
    expert = app.test_client()
    login(expert, accounts["paid"].username, accounts["paid"].password)
    assert expert.get("/training/status/list/").status_code in (302, 403)
    assert expert.get("/training/status/export/").status_code in (302, 403)
    assert app.test_client().get("/training/status/list/").status_code == 302
    admin = app.test_client()
    login_staff(admin, "testadmin")
    assert admin.get("/training/status/list/").status_code == 200
    reviewer = app.test_client()
    login_staff(reviewer)
    html = reviewer.get("/training/status/list/").get_data(True)
    assert 'id="export-excel"' in html and "培训情况" in html
