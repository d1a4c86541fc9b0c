"""暂存: the wizard's draft keeps everything as typed, valid or not (table application_draft)."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from app.models import AdmissionType, ApplicationDraft, Expert, StoredFile, utcnow
from app.services.application.rules import (
    BASIC,
    BASIC_BY_NAME,
    EDITABLE,
    MAX_ROWS,
    RENEWAL_LOCKED,
    SECTION_BY_NAME,
    SECTIONS,
    Section,
    is_id,
)

# ---------------------------------------------------------------- drafts

def _raw(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "id"):
        return str(value.id)
    return str(value)


def _rows(expert: Expert, section: Section) -> list[Any]:
    rows = getattr(expert, section.name)
    if section.name == "avoidance_units":  # the employer's row is kept by the record itself
        rows = [r for r in rows if not r.is_employer]
    return rows


def form_from_record(expert: Expert) -> dict:
    """The wizard's data as strings (what a draft keeps), taken from the saved record."""
    basic = {f.name: _raw(getattr(expert, f.name)) for f in BASIC if f.name != "extra_specialties"}
    basic["extra_specialties"] = [str(s.id) for s in expert.extra_specialties]
    sections = {s.name: [{f.name: _raw(getattr(r, f.name)) for f in s.fields} for r in _rows(expert, s)]
                for s in SECTIONS}
    return {"basic": basic, "sections": sections, "admission_type": expert.admission_type or "",
            "step": 1}


def values_from_record(expert: Expert) -> dict:
    """The saved record as the checks take it: references and files by id."""
    def plain(value: Any) -> Any:
        if isinstance(value, list):
            return [v.id for v in value]
        return value.id if hasattr(value, "id") else value

    return {"basic": {f.name: plain(getattr(expert, f.name)) for f in BASIC},
            "sections": {s.name: [{f.name: plain(getattr(r, f.name)) for f in s.fields}
                                  for r in _rows(expert, s)] for s in SECTIONS}}


def load(session: Session, expert: Expert) -> dict:
    """What the wizard shows: the draft if there is one, else the saved record."""
    draft = session.get(ApplicationDraft, expert.id)
    data = json.loads(draft.data) if draft else form_from_record(expert)
    if not data.get("admission_type"):
        data["admission_type"] = default_admission_type(expert)
    for section in SECTIONS:
        data["sections"].setdefault(section.name, [])
    _drop_broken_file_ids(data)
    return data


def file_fields(model: type) -> set[str]:
    """The attributes of ``model`` that hold a stored file (photo, proof, scan)."""
    return {r.key for r in inspect(model).relationships if r.mapper.class_ is StoredFile}


def _drop_broken_file_ids(data: dict) -> None:
    """The pages link every kept upload by its id: a draft saved with something else in a
    file field (letters, an id no column holds) has it emptied, so its page renders."""
    basic = data.get("basic", {})
    for name in file_fields(Expert) & BASIC_BY_NAME.keys():
        if basic.get(name) and not is_id(basic[name]):
            basic[name] = ""
    for section in SECTIONS:
        files = file_fields(section.model)
        for row in data["sections"].get(section.name) or []:
            for name in files:
                if row.get(name) and not is_id(row[name]):
                    row[name] = ""


def save_draft(session: Session, expert: Expert, data: dict) -> None:
    """暂存: what was typed, valid or not, as it was typed."""
    draft = session.get(ApplicationDraft, expert.id)
    payload = json.dumps(data, ensure_ascii=False)
    if draft is None:
        session.add(ApplicationDraft(expert_id=expert.id, data=payload, updated_at=utcnow()))
    else:
        draft.data = payload
        draft.updated_at = utcnow()
    session.flush()


def default_admission_type(expert: Expert) -> str:
    """2024年第一批、第二批 experts are 续聘 (the manual's instruction)."""
    if expert.admission_batch and expert.admission_batch.startswith("2024"):
        return AdmissionType.RENEWAL.value
    return expert.admission_type or ""


def is_renewal(data: dict) -> bool:
    return data.get("admission_type") == AdmissionType.RENEWAL.value


def can_edit(expert: Expert) -> bool:
    return expert.status in EDITABLE


def locked_for(data: dict) -> tuple[str, ...]:
    """Fields step 1 neither reads nor changes: 续聘 keeps the first appointment's."""
    return RENEWAL_LOCKED if is_renewal(data) else ()


def add_row(data: dict, section_name: str) -> None:
    """添加 a row to a section of the draft (at most MAX_ROWS)."""
    rows = data["sections"].setdefault(section_name, [])
    if section_name in SECTION_BY_NAME and len(rows) < MAX_ROWS:
        rows.append({f.name: "" for f in SECTION_BY_NAME[section_name].fields})


def remove_row(data: dict, section_name: str, index: int) -> None:
    rows = data["sections"].get(section_name, [])
    if 0 <= index < len(rows):
        rows.pop(index)
