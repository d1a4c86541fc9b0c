"""缴费 (issue #5, in progress): provider signature, amount, staleness, replay, concurrent
duplicate callbacks, statement reconciliation, the 2-day rule."""
import datetime as dt
import io
import json
import threading

import pytest
from openpyxl import Workbook

from app.models import ExpertStatus
from app.services import payment
from app.services.payment import LocalHmacProvider, PaymentError

NOW = dt.datetime(2025, 5, 23, 10, 0)
SECRET = b"test-secret"


@pytest.fixture
def paid_setup(app, make_expert):
    """An admitted expert with one course in an open round; returns ids and a factory."""
    from app.extensions import db
    from app.models import Course, Expert, TrainingRound

    account = make_expert("缴费人", status=ExpertStatus.ADMITTED)
    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        expert.expert_no = f"XJ2099{account.expert_id:06d}"
        expert.admission_batch = f"测试入库批{account.expert_id}"  # this round's experts only
        rnd = TrainingRound(name=f"测试批次{account.expert_id}",
                            admission_batches=expert.admission_batch,
                            statuses="已入库", enroll_start=NOW - dt.timedelta(days=1),
                            enroll_end=NOW + dt.timedelta(days=30), fee_fen=30000,
                            makeup_fee_fen=10000, open_delay_days=2, study_days=10)
        db.session.add(rnd)
        db.session.add(Course(round=rnd, name="系统使用教学课程", required_minutes=60))
        db.session.flush()
        payment.ensure_enrollments(db.session, expert, NOW)
        enrollment = expert_enrollment(db.session, expert.id)
        order = payment.open_order(db.session, enrollment, NOW)
        db.session.commit()
        ids = {"expert": expert.id, "expert_no": expert.expert_no, "order_no": order.order_no,
               "enrollment": enrollment.id, "amount": order.amount_fen}
        db.session.remove()
    return ids


def expert_enrollment(session, expert_id):
    from app.models import Enrollment

    return session.query(Enrollment).filter_by(expert_id=expert_id).one()


def notify(provider, order_no, amount, ref, when=NOW):
    body = json.dumps({"order_no": order_no, "amount_fen": amount, "transaction_id": ref}).encode()
    ts = str(int(when.replace(tzinfo=dt.UTC).timestamp()))
    return {provider.SIGNATURE: provider.sign(body, ts), provider.TIMESTAMP: ts}, body


def order_state(app, order_no):
    from app.extensions import db
    from app.models import PaymentOrder

    with app.app_context():
        o = db.session.query(PaymentOrder).filter_by(order_no=order_no).one()
        e = o.enrollment
        state = (o.status, o.provider_ref, e.paid_at, e.study_start, e.study_end)
        db.session.remove()
    return state


def test_local_provider_refuses_production():
    with pytest.raises(RuntimeError, match="生产环境"):
        LocalHmacProvider(SECRET, "http://x", production=True)


def test_signature_stale_and_amount(app, paid_setup):
    from app.extensions import db

    provider = LocalHmacProvider(SECRET, "http://x", production=False)
    headers, body = notify(provider, paid_setup["order_no"], paid_setup["amount"], "T1")
    with app.app_context():
        bad = dict(headers, **{provider.SIGNATURE: "0" * 64})
        with pytest.raises(PaymentError, match="签名"):
            payment.receive_notification(db.session, provider, bad, body, NOW)
        with pytest.raises(PaymentError, match="签名"):
            payment.receive_notification(db.session, provider, headers, body + b" ", NOW)
        with pytest.raises(PaymentError, match="过期"):
            payment.receive_notification(db.session, provider, headers, body,
                                         NOW + dt.timedelta(minutes=6))
        h2, b2 = notify(provider, paid_setup["order_no"], paid_setup["amount"] - 1, "T2")
        with pytest.raises(PaymentError, match="金额不符"):
            payment.receive_notification(db.session, provider, h2, b2, NOW)
        db.session.rollback()
        db.session.remove()
    assert order_state(app, paid_setup["order_no"])[0] == "待支付"


def test_replayed_notification_credits_once_and_opens_two_days_later(app, paid_setup):
    from app.extensions import db

    provider = LocalHmacProvider(SECRET, "http://x", production=False)
    headers, body = notify(provider, paid_setup["order_no"], paid_setup["amount"], "T-REPLAY")
    with app.app_context():
        assert payment.receive_notification(db.session, provider, headers, body, NOW) is True
        db.session.commit()  # as the callback's request does
        assert payment.receive_notification(db.session, provider, headers, body, NOW) is False
        db.session.commit()
        db.session.remove()
    status, ref, paid_at, start, end = order_state(app, paid_setup["order_no"])
    assert (status, ref) == ("已支付", "T-REPLAY")
    assert start == paid_at + dt.timedelta(days=2) and end == start + dt.timedelta(days=10)
    with app.app_context():
        enrollment = expert_enrollment(db.session, paid_setup["expert"])
        assert "开放时间" in payment.study_gate(enrollment, paid_at + dt.timedelta(days=1, hours=23))
        assert payment.study_gate(enrollment, paid_at + dt.timedelta(days=2)) is None
        assert "结束" in payment.study_gate(enrollment, paid_at + dt.timedelta(days=13))
        with pytest.raises(PaymentError, match="已缴费"):
            payment.open_order(db.session, enrollment, NOW)
        db.session.remove()


@pytest.mark.commits  # eight threads
def test_eight_concurrent_duplicate_callbacks_credit_once(app, paid_setup):
    from app.extensions import db

    provider = LocalHmacProvider(SECRET, "http://x", production=False)
    headers, body = notify(provider, paid_setup["order_no"], paid_setup["amount"], "T-RACE")
    results, errors = [], []
    barrier = threading.Barrier(8)

    def deliver():
        with app.app_context():
            barrier.wait()
            try:
                credited = payment.receive_notification(db.session, provider, headers, body, NOW)
                db.session.commit()  # as each callback's request does
                results.append(credited)
            except Exception as exc:  # a lock timeout would show here
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results.count(True) == 1 and results.count(False) == 7
    assert order_state(app, paid_setup["order_no"])[:2] == ("已支付", "T-RACE")


def statement(rows, header=("专家编号", "金额（元）", "交易流水号", "交易时间")) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_statement_matches_by_expert_no_and_amount(app, paid_setup):
    from app.extensions import db

    content = statement([
        (paid_setup["expert_no"], "299.00", "B-1", "2025-05-23"),  # wrong amount
        ("XJ2099999999", "300", "B-2", ""),  # unknown expert
        (paid_setup["expert_no"].lower(), "300.00", "B-3", ""),  # matches
        (paid_setup["expert_no"], "300.00", "B-3", ""),  # the same line again
    ])
    with app.app_context():
        rows = payment.reconcile(db.session, payment.read_statement(content, "对账单.xlsx"), NOW, None)
        db.session.commit()  # as the 线下对账 request does
        db.session.remove()
    results = [r.result for r in rows]
    assert results[0].startswith("未匹配：金额")
    assert results[1].startswith("未匹配：该专家编号")
    assert results[2].startswith("已匹配")
    assert results[3].startswith("已确认")
    assert order_state(app, paid_setup["order_no"])[:2] == ("已支付", "B-3")


def test_statement_csv_and_missing_columns(app):
    rows = payment.read_statement("专家编号,金额,交易流水号\nXJ2025000001,300,X1\n".encode(), "a.csv")
    assert rows[0].amount_fen == 30000 and rows[0].reference == "X1"
    with pytest.raises(PaymentError, match="缺少列"):
        payment.read_statement(statement([("x",)], header=("姓名",)), "a.xlsx")
    with pytest.raises(PaymentError, match="无法读取"):
        payment.read_statement(b"not a workbook", "a.xlsx")


def test_confirm_by_hand_needs_a_reference(app, paid_setup):
    from app.extensions import db
    from app.models import PaymentOrder

    with app.app_context():
        order = db.session.query(PaymentOrder).filter_by(order_no=paid_setup["order_no"]).one()
        with pytest.raises(PaymentError, match="凭证号"):
            payment.confirm_by_hand(db.session, order, " ", NOW, 1)
        assert payment.confirm_by_hand(db.session, order, "POS-001", NOW, 1) is True
        db.session.remove()


def test_orders_only_for_admitted_experts_in_the_window(app, paid_setup):
    from app.extensions import db

    with app.app_context():
        enrollment = expert_enrollment(db.session, paid_setup["expert"])
        with pytest.raises(PaymentError, match="缴费时间"):
            payment.open_order(db.session, enrollment, NOW + dt.timedelta(days=60))
        again = payment.open_order(db.session, enrollment, NOW)
        assert again.order_no == paid_setup["order_no"]  # the open order is reused
        db.session.remove()


def test_mark_paid_is_the_orders_one_transition(app, paid_setup):
    """待支付 → 已支付 once; the same payment again changes nothing; another payment for an
    order already paid is refused (a DomainError, answered by the one handler)."""
    from app.extensions import db
    from app.models import PaymentOrder, PaymentStatus
    from app.services.errors import DomainError

    with app.app_context():
        order = db.session.query(PaymentOrder).filter_by(order_no=paid_setup["order_no"]).one()
        assert order.status == PaymentStatus.UNPAID and not order.is_paid
        assert payment.mark_paid(db.session, order, provider="manual", provider_ref="P-1",
                                 paid_at=NOW) is True
        assert order.status == PaymentStatus.PAID and order.is_paid
        assert order.enrollment.is_paid and not payment.needs_payment(order.enrollment)
        assert payment.mark_paid(db.session, order, provider="manual", provider_ref="P-1",
                                 paid_at=NOW) is False
        with pytest.raises(PaymentError, match="其他付款") as refused:
            payment.mark_paid(db.session, order, provider="statement", provider_ref="B-9",
                              paid_at=NOW)
        assert isinstance(refused.value, DomainError) and refused.value.status == 400
        db.session.rollback()
        db.session.remove()
