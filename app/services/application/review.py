"""The review of a submitted application: the admission rules as flags, 通过 or 退回 the version
the reviewer saw (an optimistic lock on the expert's version), the 专家编号."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Expert, beijing_today, utcnow
from app.services.errors import Conflict
from app.services.expert_status import transition
from app.services.messages import N_


@dataclass(frozen=True)
class RuleSettings:
    max_age: int = 70
    min_work_years: int = 8


@dataclass
class Flag:
    rule: str
    ok: bool
    detail: str
    # the detail as a message with its values, so the screen can show it in English too
    message: str = ""
    values: dict[str, Any] = field(default_factory=dict)


def work_years(expert: Expert, today: dt.date | None = None) -> float:
    """Years covered by 工作经历, overlaps counted once."""
    today = today or beijing_today()
    spans = sorted((w.start_date, w.end_date or today) for w in expert.work_experiences
                   if w.start_date)
    total, cur_start, cur_end = 0, None, None
    for start, end in spans:
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += (cur_end - cur_start).days
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += (cur_end - cur_start).days
    return round(total / 365.25, 1)


def rule_flags(expert: Expert, settings: RuleSettings, on: dt.date | None = None) -> list[Flag]:
    """The admission rules, shown to the reviewer as flags: nothing is blocked silently."""
    on = on or (expert.submitted_at.date() if expert.submitted_at else beijing_today())
    age = expert.age(on)
    if age is not None:
        values: dict[str, Any] = {"age": age, "max": settings.max_age}
        message = N_("申请时%(age)s岁（上限%(max)s岁）")
    else:
        values, message = {}, N_("出生年月未知")
    flags = [Flag(N_("年龄"), age is not None and age <= settings.max_age,
                  message % values, message, values)]
    level = expert.title.level if expert.title else None
    registered = any(q.is_registered for q in expert.qualifications)
    title_ok = bool(level and (level.senior or (level.name == "中级" and registered)))
    values = {"title": expert.title or "-", "level": level or "-"}
    message = N_("%(title)s（%(level)s），有注册执业资格") if registered else "%(title)s（%(level)s）"
    flags.append(Flag(N_("职称"), title_ok,
                      f"{expert.title or '未填写'}（{level or '-'}）"
                      + ("，有注册执业资格" if registered else ""), message, values))
    years = work_years(expert, on)
    values = {"years": years, "min": settings.min_work_years}
    message = N_("%(years)s年（至少%(min)s年）")
    flags.append(Flag(N_("工作年限"), years >= settings.min_work_years,
                      message % values, message, values))
    return flags


class StaleVersion(Conflict):
    """The reviewer saw an older version than the one stored (409)."""

    def __init__(self) -> None:
        super().__init__("申请人在您打开页面后修改了申请，请刷新页面查看最新内容后再审核（您填写的意见已保留）")


def next_expert_no(session: Session, year: int) -> str:
    """专家编号 XJ + year + a six-digit sequence that restarts each year: XJ2025000001."""
    prefix = f"XJ{year}"
    last = session.execute(
        select(func.max(Expert.expert_no)).where(Expert.expert_no.like(prefix + "%"))
    ).scalar()
    seq = int(last[len(prefix):]) + 1 if last else 1
    return f"{prefix}{seq:06d}"


def review(session: Session, expert: Expert, action: str, *, reviewer_id: int,
           seen_version: int, opinion: str | None, section_opinions: dict[str, str] | None = None,
           actor_kind: str = "reviewer") -> None:
    """通过 or 退回 the version the reviewer saw; 通过 assigns the 专家编号."""
    if int(seen_version) != int(expert.version or 0):
        raise StaleVersion()
    notes = {k: val.strip() for k, val in (section_opinions or {}).items() if val and val.strip()}
    if action == "return" and not (opinion or "").strip() and notes:
        opinion = "；".join(f"{k}：{val}" for k, val in notes.items())
    record = transition(expert, action, actor_kind=actor_kind, actor_id=reviewer_id,
                        opinion=opinion)
    if notes:
        record.section_opinions = json.dumps(notes, ensure_ascii=False)
    if action == "approve" and not expert.expert_no:
        expert.expert_no = next_expert_no(session, utcnow().year)
