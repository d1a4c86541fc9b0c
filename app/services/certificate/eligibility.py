"""Who may have a certificate: passed and paid every course of a round; 学时."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Certificate,
    Course,
    Enrollment,
    Expert,
    PaymentOrder,
    TrainingRound,
)
from app.services.certificate.common import (
    PAID,
    PASSED,
    VALID,
    CertificateError,
)


@dataclass(frozen=True)
class Eligibility:
    round_id: int
    enrollment_id: int  # the passing enrolment graded last
    hours: int


def hours_for(minutes: int, minutes_per_hour: int = 45) -> int:
    if minutes <= 0:
        return 0
    return max(1, minutes // max(1, minutes_per_hour))


def _passed_and_paid(session: Session, round_ids: Iterable[int] | None,
                     expert_ids: Iterable[int] | None) -> dict[tuple[int, int], dict]:
    """(expert, round) → courses passed and paid, the last passing enrolment."""
    def scoped(query):
        if round_ids is not None:
            query = query.where(Course.round_id.in_(list(round_ids)))
        if expert_ids is not None:
            query = query.where(Enrollment.expert_id.in_(list(expert_ids)))
        return query

    passed = session.execute(scoped(
        select(Enrollment.expert_id, Course.round_id, Enrollment.course_id, Enrollment.id,
               Enrollment.graded_at)
        .join(Course, Course.id == Enrollment.course_id)
        .where(Enrollment.review_status == PASSED, Enrollment.completed.is_(True)))).all()
    paid = set(session.execute(scoped(
        select(Enrollment.expert_id, Enrollment.course_id)
        .join(Course, Course.id == Enrollment.course_id)
        .join(PaymentOrder, PaymentOrder.enrollment_id == Enrollment.id)
        .where(PaymentOrder.status == PAID))).all())
    out: dict[tuple[int, int], dict] = {}
    for expert_id, round_id, course_id, enrollment_id, graded_at in passed:
        if (expert_id, course_id) not in paid:
            continue
        entry = out.setdefault((expert_id, round_id), {"courses": set(), "last": None})
        entry["courses"].add(course_id)
        key = (graded_at or dt.datetime.min, enrollment_id)
        if entry["last"] is None or key > entry["last"]:
            entry["last"] = key
    return out


def _round_courses(session: Session, round_ids: Iterable[int] | None) -> dict[int, dict]:
    query = select(Course.round_id, Course.id, Course.required_minutes)
    if round_ids is not None:
        query = query.where(Course.round_id.in_(list(round_ids)))
    out: dict[int, dict] = {}
    for round_id, course_id, minutes in session.execute(query):
        entry = out.setdefault(round_id, {"courses": set(), "minutes": 0})
        entry["courses"].add(course_id)
        entry["minutes"] += minutes or 0
    return out


def eligible_rounds(session: Session, expert: Expert,
                    minutes_per_hour: int = 45) -> dict[int, Eligibility]:
    """round id → Eligibility for every round this expert passed and paid for."""
    if not expert.expert_no:
        return {}
    done = _passed_and_paid(session, None, [expert.id])
    rounds = _round_courses(session, {r for _, r in done})
    out = {}
    for (_, round_id), entry in done.items():
        needed = rounds.get(round_id)
        if needed and needed["courses"] <= entry["courses"]:
            out[round_id] = Eligibility(round_id, entry["last"][1],
                                        hours_for(needed["minutes"], minutes_per_hour))
    return out


def eligibility(session: Session, expert: Expert, rnd: TrainingRound,
                minutes_per_hour: int = 45) -> Eligibility:
    """The expert's eligibility for this round, or CertificateError saying why not."""
    if not expert.expert_no:
        raise CertificateError("该专家尚无专家编号（未入库），不能发放证书")
    found = eligible_rounds(session, expert, minutes_per_hour).get(rnd.id)
    if found is None:
        raise CertificateError(f"该专家未完成{rnd.name}的全部课程培训、考试合格并缴费，不能发放证书")
    return found


def eligible_expert_ids(session: Session, rnd: TrainingRound) -> list[int]:
    """Experts (with a 专家编号) who passed and paid every course of the round."""
    needed = _round_courses(session, [rnd.id]).get(rnd.id)
    if not needed:
        return []
    done = _passed_and_paid(session, [rnd.id], None)
    ids = [e for (e, _), entry in done.items() if needed["courses"] <= entry["courses"]]
    if not ids:
        return []
    with_no: set[int] = set()
    for start in range(0, len(ids), 5000):
        with_no |= set(session.execute(select(Expert.id).where(
            Expert.id.in_(ids[start:start + 5000]), Expert.expert_no.is_not(None))).scalars())
    return sorted(with_no)


def valid_certificate(session: Session, expert_id: int, round_id: int) -> Certificate | None:
    return session.execute(select(Certificate).where(
        Certificate.expert_id == expert_id, Certificate.round_id == round_id,
        Certificate.status == VALID)).scalar_one_or_none()
