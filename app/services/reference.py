"""Reference lists: first filled from data/reference/*.csv; staff extend them later."""
from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select
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
    session.commit()
    return counts
