"""缴费: orders, payment providers, idempotent confirmation, statement reconciliation, and
the rule that training opens two days (configurable) after the payment is confirmed.

A provider turns an order into what the QR code encodes and verifies the provider's
notification (signature over the raw body, freshness). ``LocalHmacProvider`` is for
development and tests and refuses to start in production; a WeChat Pay v3 or Alipay
adapter is one module with the same two methods (``payment_url`` and ``verify``).

An order's one transition, 待支付 → 已支付, is ``mark_paid``. Nothing here commits: the
request (the callback, 线下对账) commits once its answer is ready.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import (
    BEIJING,
    Course,
    Enrollment,
    Expert,
    FeeKind,
    PaymentOrder,
    PaymentStatus,
    TrainingRound,
)
from app.services.access import StudyWindow, study_window
from app.services.errors import DomainError

MAX_NOTIFICATION_AGE = dt.timedelta(minutes=5)


class PaymentError(DomainError):
    """缴费 refused: an order that cannot be opened or confirmed, a notification that does
    not verify, a statement that cannot be read."""


@dataclass(frozen=True)
class Notification:
    order_no: str
    amount_fen: int
    provider_ref: str  # the provider's transaction id
    paid_at: dt.datetime


class PaymentProvider(Protocol):
    name: str

    def payment_url(self, order: PaymentOrder) -> str: ...

    def verify(self, headers: Mapping[str, str], body: bytes, now: dt.datetime) -> Notification: ...


class LocalHmacProvider:
    """A signed provider for development and tests: HMAC-SHA256 over timestamp + raw body."""

    name = "local"
    SIGNATURE = "X-Local-Signature"
    TIMESTAMP = "X-Local-Timestamp"

    def __init__(self, secret: bytes, base_url: str, *, production: bool):
        if production:
            raise RuntimeError("本地模拟支付仅用于开发和测试，生产环境不能启用（PAYMENT_PROVIDER=local）")
        self.secret = secret
        self.base_url = base_url.rstrip("/")

    def payment_url(self, order: PaymentOrder) -> str:
        return f"{self.base_url}/payments/local/{order.order_no}"

    def sign(self, body: bytes, timestamp: str) -> str:
        return hmac.new(self.secret, timestamp.encode() + b"\n" + body, hashlib.sha256).hexdigest()

    def verify(self, headers: Mapping[str, str], body: bytes, now: dt.datetime) -> Notification:
        signature, timestamp = headers.get(self.SIGNATURE, ""), headers.get(self.TIMESTAMP, "")
        if not signature or not timestamp.isdigit():
            raise PaymentError("缺少签名")
        if not hmac.compare_digest(signature, self.sign(body, timestamp)):
            raise PaymentError("签名不正确")
        sent = dt.datetime.fromtimestamp(int(timestamp), dt.UTC).replace(tzinfo=None)
        if abs(now - sent) > MAX_NOTIFICATION_AGE:
            raise PaymentError("通知已过期")
        try:
            data = json.loads(body)
            return Notification(str(data["order_no"]), int(data["amount_fen"]),
                                str(data["transaction_id"]), sent)
        except (ValueError, KeyError, TypeError):
            raise PaymentError("通知内容不正确") from None


# ---------------------------------------------------------------- enrolment and orders

def rounds_for(session: Session, expert: Expert) -> list[TrainingRound]:
    """Active rounds this expert must attend (by 入库批次 and status)."""
    out = []
    for rnd in session.execute(select(TrainingRound).where(TrainingRound.active)).scalars():
        batches = [b.strip() for b in (rnd.admission_batches or "").split(",") if b.strip()]
        statuses = [s.strip() for s in rnd.statuses.split(",") if s.strip()]
        if expert.status in statuses and (not batches or expert.admission_batch in batches):
            out.append(rnd)
    return out


def ensure_enrollments(session: Session, expert: Expert, now: dt.datetime) -> None:
    """Every course of every round the expert must attend has a row in 我的培训."""
    if not expert.is_admitted:
        return
    have = {e.course_id for e in session.execute(
        select(Enrollment).where(Enrollment.expert_id == expert.id)).scalars()}
    for rnd in rounds_for(session, expert):
        for course in session.execute(select(Course).where(Course.round_id == rnd.id)).scalars():
            if course.id not in have:
                session.add(Enrollment(expert_id=expert.id, course_id=course.id, attempt_no=1,
                                       created_at=now))
    session.flush()


def new_order_no(now: dt.datetime) -> str:
    return f"PX{now:%Y%m%d%H%M%S}{secrets.token_hex(3).upper()}"


def needs_payment(enrollment: Enrollment) -> bool:
    """【缴费】 is offered: the fee (or the 补学 fee) of this row is not paid yet."""
    return not enrollment.is_paid


def open_order(session: Session, enrollment: Enrollment, now: dt.datetime) -> PaymentOrder:
    """【缴费】: the enrolment's open order, or a new one (training fee, or 补学 fee)."""
    expert = enrollment.expert
    if not expert.expert_no:
        raise PaymentError("审核通过（已入库）后才能缴费")
    if not needs_payment(enrollment):
        raise PaymentError("已缴费，无需重复缴费")
    rnd = enrollment.course.round
    if not (rnd.enroll_start <= now <= rnd.enroll_end):
        raise PaymentError(f"缴费时间为 {rnd.enroll_start:%Y-%m-%d} 至 {rnd.enroll_end:%Y-%m-%d}")
    existing = session.execute(
        select(PaymentOrder).where(PaymentOrder.enrollment_id == enrollment.id,
                                   PaymentOrder.status == PaymentStatus.UNPAID)).scalars().first()
    if existing is not None:
        return existing
    makeup = enrollment.attempt_no > 1
    order = PaymentOrder(order_no=new_order_no(now), enrollment=enrollment,
                         expert_no=expert.expert_no, created_at=now,
                         status=PaymentStatus.UNPAID.value,
                         amount_fen=rnd.makeup_fee_fen if makeup else rnd.fee_fen,
                         kind=(FeeKind.MAKEUP if makeup else FeeKind.TRAINING).value)
    session.add(order)
    session.flush()
    return order


def open_study(enrollment: Enrollment, paid_at: dt.datetime) -> None:
    """Training opens open_delay_days after the payment (the manual: 2 天后)."""
    rnd = enrollment.course.round
    enrollment.paid_at = paid_at
    enrollment.study_start = paid_at + dt.timedelta(days=rnd.open_delay_days)
    enrollment.study_end = enrollment.study_start + dt.timedelta(days=rnd.study_days)


def study_gate(enrollment: Enrollment, now: dt.datetime) -> str | None:
    """None when 学习 may start, else the reason shown to the expert."""
    days = enrollment.course.round.open_delay_days
    if enrollment.paid_at is None:
        return f"请先缴费，缴费成功的专家 {days} 天后即可进入培训"
    window = study_window(enrollment.study_start, enrollment.study_end, now)
    if window is StudyWindow.NOT_OPEN:
        opens = (enrollment.study_start or now) + BEIJING
        return f"缴费成功的专家 {days} 天后即可进入培训，开放时间：{opens:%Y-%m-%d %H:%M:%S}"
    if window is StudyWindow.ENDED:
        return f"学习已于 {enrollment.study_end + BEIJING:%Y-%m-%d %H:%M:%S} 结束"
    return None


# ---------------------------------------------------------------- confirmation

def mark_paid(session: Session, order: PaymentOrder, *, provider: str, provider_ref: str,
              paid_at: dt.datetime, actor_id: int | None = None) -> bool:
    """待支付 → 已支付, the order's one transition, and 学习 opens ``open_delay_days`` later.

    True when this call credited it; False when the same payment had credited it already (a
    repeated notification) or another call got there first. The update is conditional on
    待支付, so two notifications arriving at once credit once. Paid by another payment:
    refused."""
    if order.is_paid:
        if (order.provider, order.provider_ref) == (provider, provider_ref):
            return False
        raise PaymentError("该订单已由其他付款确认，请核对是否重复缴费")
    changed = session.execute(
        update(PaymentOrder)
        .where(PaymentOrder.id == order.id, PaymentOrder.status == PaymentStatus.UNPAID)
        .values(status=PaymentStatus.PAID.value, paid_at=paid_at, provider=provider,
                provider_ref=provider_ref, confirmed_by_id=actor_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:  # someone else got there first: nothing to do
        return False
    session.refresh(order)
    open_study(order.enrollment, paid_at)
    return True


def confirm(session: Session, order_no: str, amount_fen: int, *, provider: str,
            provider_ref: str, paid_at: dt.datetime, actor_id: int | None = None) -> bool:
    """A payment of ``amount_fen`` for the order ``order_no``: checked, then ``mark_paid``."""
    order = session.execute(
        select(PaymentOrder).where(PaymentOrder.order_no == order_no)).scalar_one_or_none()
    if order is None:
        raise PaymentError("订单不存在")
    if amount_fen != order.amount_fen:
        raise PaymentError(f"金额不符：订单 {order.amount_fen / 100:.2f} 元，实付 {amount_fen / 100:.2f} 元")
    return mark_paid(session, order, provider=provider, provider_ref=provider_ref,
                     paid_at=paid_at, actor_id=actor_id)


def receive_notification(session: Session, provider: PaymentProvider,
                         headers: Mapping[str, str], body: bytes, now: dt.datetime) -> bool:
    """The callback: verify, then confirm (idempotent). Flushes; the request commits."""
    note = provider.verify(headers, body, now)
    return confirm(session, note.order_no, note.amount_fen, provider=provider.name,
                   provider_ref=note.provider_ref, paid_at=note.paid_at)


# ---------------------------------------------------------------- 线下对账

@dataclass
class StatementRow:
    row: int
    expert_no: str
    amount_fen: int | None
    reference: str
    result: str = ""


STATEMENT_COLUMNS = ("专家编号", "金额", "交易流水号")


def read_statement(content: bytes, file_name: str) -> list[StatementRow]:
    """Rows of a bank or merchant statement (xlsx or csv) with 专家编号, 金额（元）, 交易流水号."""
    if file_name.lower().endswith(".csv"):
        text = content.decode("utf-8-sig", errors="replace")
        rows = list(csv.reader(io.StringIO(text)))
    else:
        try:
            wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:
            raise PaymentError("无法读取对账文件，请上传 xlsx 或 csv") from None
        rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    if not rows:
        raise PaymentError("对账文件为空")
    header = [str(h or "").strip() for h in rows[0]]

    def column(name: str) -> int:
        for i, h in enumerate(header):
            if h.startswith(name):
                return i
        raise PaymentError(f"对账文件缺少列：{name}")

    i_no, i_amount, i_ref = (column(c) for c in STATEMENT_COLUMNS)
    out = []
    for n, raw in enumerate(rows[1:], start=2):
        if not any(str(c or "").strip() for c in raw):
            continue
        cells = ["" if c is None else str(c).strip() for c in raw] + [""] * len(header)
        try:
            amount = round(float(cells[i_amount].replace(",", "").replace("元", "")) * 100)
        except ValueError:
            amount = None
        out.append(StatementRow(n, cells[i_no].upper(), amount, cells[i_ref]))
    return out


def reconcile(session: Session, rows: list[StatementRow], now: dt.datetime,
              actor_id: int | None) -> list[StatementRow]:
    """Match statement rows to unpaid orders by 专家编号 and amount; each row gets a result."""
    for row in rows:
        if row.amount_fen is None or not row.expert_no or not row.reference:
            row.result = "未匹配：专家编号、金额或流水号缺失"
            continue
        already = session.execute(select(PaymentOrder).where(
            PaymentOrder.provider == "statement", PaymentOrder.provider_ref == row.reference)
        ).scalar_one_or_none()
        if already is not None:
            row.result = f"已确认（订单 {already.order_no}）"
            continue
        candidates = session.execute(select(PaymentOrder).where(
            PaymentOrder.expert_no == row.expert_no, PaymentOrder.status == PaymentStatus.UNPAID)
            .order_by(PaymentOrder.created_at)).scalars().all()
        if not candidates:
            row.result = "未匹配：该专家编号没有待支付订单"
            continue
        same = [o for o in candidates if o.amount_fen == row.amount_fen]
        if not same:
            row.result = "未匹配：金额与待支付订单不符"
            continue
        order = same[0]
        confirm(session, order.order_no, row.amount_fen, provider="statement",
                provider_ref=row.reference, paid_at=now, actor_id=actor_id)
        row.result = f"已匹配：订单 {order.order_no}"
    session.flush()
    return rows


def confirm_by_hand(session: Session, order: PaymentOrder, reference: str, now: dt.datetime,
                    actor_id: int) -> bool:
    reference = (reference or "").strip()
    if not reference:
        raise PaymentError("请填写付款凭证号")
    return confirm(session, order.order_no, order.amount_fen, provider="manual",
                   provider_ref=reference, paid_at=now, actor_id=actor_id)
