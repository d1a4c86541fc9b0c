"""Reference lists: first filled from data/reference/*.csv; staff extend them later.
A row that other rows point at is not deleted (see ``delete_refusal``).

Nothing here commits: ``flask init`` (and the test and bench set-ups) commit after
``load_reference_data`` through the unit of work."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import func, inspect, or_, select
from sqlalchemy.orm import Session

from app.models import (
    Degree,
    EducationLevel,
    PoliticalStatus,
    Prefecture,
    Specialty,
    Title,
    TitleLevel,
)


def _rows(directory: Path, name: str) -> list[dict[str, str]]:
    with open(directory / name, encoding="utf-8-sig", newline="") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def _upsert(session: Session, model, key: str, values: dict) -> object:
    """Insert a row that is missing; never overwrite what staff have edited."""
    obj = session.execute(select(model).where(getattr(model, key) == values[key])).scalar_one_or_none()
    if obj is None:
        obj = model(**values)
        session.add(obj)
        session.flush()
    return obj


def load_reference_data(session: Session, directory: str | Path) -> dict[str, int]:
    """Insert the rows of data/reference/*.csv that are missing (rows per list); safe to
    run again. Flushes."""
    directory = Path(directory)
    counts: dict[str, int] = {}
    for model, file_name, columns in (
        (Prefecture, "prefectures.csv", ("code", "name", "kind")),
        (PoliticalStatus, "political_status.csv", ("code", "name")),
        (EducationLevel, "education_levels.csv", ("code", "name")),
        (Degree, "degrees.csv", ("code", "name")),
    ):
        rows = _rows(directory, file_name)
        for row in rows:
            _upsert(session, model, "code", {c: row[c] for c in columns})
        counts[model.__tablename__] = len(rows)
    levels = {}
    for row in _rows(directory, "title_levels.csv"):
        levels[row["name"]] = _upsert(session, TitleLevel, "code", {
            "code": row["code"], "name": row["name"], "senior": row["senior"].lower() == "true"})
    for row in _rows(directory, "titles.csv"):
        _upsert(session, Title, "name", {"name": row["name"], "level": levels[row["level"]]})
    specialties = {}
    for row in _rows(directory, "specialties.csv"):  # parents come before children
        parent = specialties.get(row["parent_code"]) if row["parent_code"] else None
        specialties[row["code"]] = _upsert(session, Specialty, "code", {
            "code": row["code"], "name": row["name"], "parent": parent})
    counts["specialty"] = len(specialties)
    session.flush()
    return counts


# What a referencing table is called on screen, in "已被使用（专家 3 条）".
TABLE_LABELS: dict[str, str] = {
    "expert": "专家",
    "expert_extra_specialty": "专家其他专业",
    "education": "学历信息",
    "qualification": "职称资格",
    "title": "职称",
    "specialty": "下级专业",
    "transfer_request": "异动申请",
    "course": "课程",
    "enrollment": "专家培训记录",
    "lesson": "课程资料",
    "question": "题库题目",
    "paper_rule": "试卷规则",
    "exam_answer": "考试答题",
    "certificate": "专家证书",
    "certificate_batch": "证书发放记录",
    "payment_order": "缴费订单",
    "exam_attempt": "考试记录",
}


def usage(session: Session, item: Any) -> list[tuple[str, int]]:
    """Rows that point at ``item`` through a declared foreign key, per referencing table
    (label, count). Every foreign key counts, ON DELETE CASCADE ones too: a course's
    enrolments would be deleted with it (paid orders and all)."""
    mapper = inspect(item).mapper
    table = mapper.local_table
    out: list[tuple[str, int]] = []
    for other in table.metadata.tables.values():
        columns = [(fk.parent, fk.column) for fk in other.foreign_keys if fk.column.table is table]
        if not columns:
            continue
        condition = or_(*(col == getattr(item, mapper.get_property_by_column(target).key)
                          for col, target in columns))
        count = session.execute(select(func.count()).select_from(other).where(condition)).scalar()
        if count:
            out.append((TABLE_LABELS.get(other.name, "其他记录"), count))
    return out


def can_be_deactivated(model: type) -> bool:
    """The rows have a 启用 flag (``active``): one can be switched off instead of deleted."""
    return "active" in inspect(model).columns


def in_use_message(what: str, model: type, uses: list[tuple[str, int]] | None = None) -> str:
    detail = f"（{'、'.join(f'{label} {n} 条' for label, n in uses)}）" if uses else ""
    message = f"该{what}已被使用{detail}，不能删除。"
    if can_be_deactivated(model):
        message += "如不再使用，请将其停用（取消勾选“启用”）。"
    return message


def delete_refusal(session: Session, item: Any, what: str) -> str | None:
    """Why ``item`` (a 市州, 职称, 课程 …, called ``what`` on screen) may not be deleted, or
    None when nothing points at it."""
    uses = usage(session, item)
    return in_use_message(what, type(item), uses) if uses else None
