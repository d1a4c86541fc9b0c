"""Expert records: creation with an account, derived fields, the employer as 回避单位."""
from __future__ import annotations

from typing import Any

from flask_appbuilder.security.sqla.models import Role
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AppUser, AvoidanceUnit, Expert
from app.services.accounts import default_password, hash_password, unique_account
from app.services.roles import ROLE_EXPERT
from app.services.validators import parse_id_number

EMPLOYER_AVOIDANCE_REASON = "本人工作单位"


def derive_from_id_number(expert: Expert) -> None:
    """出生年月 and 性别 always agree with the ID number: they are taken from it."""
    info = parse_id_number(expert.id_number)
    expert.id_number = info.number
    expert.birth_date = info.birth_date
    expert.gender = info.gender


def account_taken(session: Session, username: str) -> bool:
    return session.execute(
        select(AppUser.id).where(AppUser.username == username)
    ).first() is not None


def create_account(session: Session, expert: Expert, expert_role: Any) -> AppUser:
    """An account named by the name's pinyin, with the default password, to be changed
    at first login. Experts rarely have an e-mail on file: a placeholder keeps FAB's
    unique, not-null column satisfied without exposing anything."""
    username = unique_account(expert.name, lambda u: account_taken(session, u))
    user = AppUser(
        username=username,
        first_name=expert.name,
        last_name="",
        email=f"{username}@expert.invalid",
        active=True,
        password=hash_password(default_password(expert.id_number)),
        must_change_password=True,
    )
    user.roles = [expert_role]
    session.add(user)
    session.flush()
    expert.user = user
    expert.user_id = user.id
    return user


def expert_role(session: Session) -> Any:
    role = session.execute(select(Role).where(Role.name == ROLE_EXPERT)).scalar_one_or_none()
    if role is None:
        role = Role(name=ROLE_EXPERT)
        session.add(role)
        session.flush()
    return role


def assign_application_no(session: Session, expert: Expert) -> None:
    if not expert.application_no:
        session.flush()
        expert.application_no = f"SQ{expert.id:08d}"


def sync_employer_avoidance(expert: Expert) -> None:
    """The expert's own 工作单位 is always one of their 回避单位."""
    rows = [u for u in expert.avoidance_units if u.is_employer]
    if not expert.employer:
        for row in rows:
            expert.avoidance_units.remove(row)
        return
    if rows:
        rows[0].name = expert.employer
        for extra in rows[1:]:
            expert.avoidance_units.remove(extra)
    else:
        expert.avoidance_units.append(
            AvoidanceUnit(name=expert.employer, reason=EMPLOYER_AVOIDANCE_REASON, is_employer=True)
        )


def remember_first_appointment(expert: Expert) -> None:
    """续聘 keeps the 市州, 工作单位 and 申报专业 of the first appointment: note them once."""
    if expert.first_prefecture_id is None and expert.first_prefecture is None:
        expert.first_prefecture = expert.prefecture
    if expert.first_employer is None:
        expert.first_employer = expert.employer
    if expert.first_specialty_id is None and expert.first_specialty is None:
        expert.first_specialty = expert.main_specialty


def prepare_new_expert(session: Session, expert: Expert) -> Expert:
    """Everything a new expert needs before it is saved: derived fields, account, number."""
    derive_from_id_number(expert)
    remember_first_appointment(expert)
    if expert.user_id is None and expert.user is None:
        create_account(session, expert, expert_role(session))
    session.add(expert)
    assign_application_no(session, expert)
    sync_employer_avoidance(expert)
    return expert


def prepare_changed_expert(expert: Expert) -> None:
    derive_from_id_number(expert)
    sync_employer_avoidance(expert)
    expert.version = (expert.version or 0) + 1
    if expert.user is not None:
        expert.user.first_name = expert.name

