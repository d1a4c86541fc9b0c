"""Import of the experts already in the library (the 2024 batches) from an xlsx file.

Each bad row is reported with its row number and the reason in Chinese; good
rows are imported, each in its own savepoint (a failure never leaves half a
row); an expert already present (same 身份证号) is left as it is, so importing
the same file again changes nothing.
"""
from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import (
    AdmissionType,
    BatchStatus,
    Expert,
    ExpertStatus,
    ImportBatch,
    PoliticalStatus,
    Prefecture,
    Specialty,
    Title,
    utcnow,
)
from app.services import audit, jobs, unit_of_work
from app.services.audit import Action
from app.services.experts import prepare_new_expert
from app.services.export import xlsx
from app.services.validators import (
    ValidationError,
    check_id_agrees,
    parse_id_number,
    validate_email,
    validate_name,
    validate_phone,
)

REQUIRED_COLUMNS = ["姓名", "身份证号", "手机号码", "所在市州", "工作单位", "从事专业类别",
                    "职称", "入库批次"]
OPTIONAL_COLUMNS = ["性别", "政治面貌", "本人电子邮箱", "入库类型", "详细地址", "本人备用手机号码"]
IMPORT_COLUMNS = [(c, True) for c in REQUIRED_COLUMNS] + [(c, False) for c in OPTIONAL_COLUMNS]
COLUMN_NOTES = {
    "姓名": "汉字；少数民族姓名用“·”分隔，如 买买提·艾力",
    "身份证号": "18位，末位X大小写均可；出生年月和性别由此得出",
    "手机号码": "11位手机号，可带+86；也作为登录账号",
    "所在市州": "市州名称或代码，如 乌鲁木齐市 或 650100",
    "从事专业类别": "专业名称或代码，如 建筑工程（土建） 或 A0101",
    "职称": "如 高级工程师（须在职称列表中）",
    "入库批次": "如 2024年第一批",
    "性别": "可不填；填写时须与身份证号一致",
    "入库类型": "续聘 / 新聘 / 其他，不填为续聘",
}


@dataclass
class RowError:
    row: int
    name: str
    reason: str


@dataclass
class ImportReport:
    created: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    file_error: str | None = None

    @property
    def failed(self) -> int:
        return len(self.errors)


def template_workbook() -> bytes:
    example = ["张三", "650102198001011234", "13800138000", "乌鲁木齐市", "新疆某建设集团有限公司",
               "建筑工程（土建）", "高级工程师", "2024年第一批", "男", "中共党员",
               "zhangsan@example.com", "续聘", "", ""]
    notes = [[column, "必填" if required else "选填", COLUMN_NOTES.get(column, "")]
             for column, required in IMPORT_COLUMNS]
    return xlsx([("专家信息", [c for c, _ in IMPORT_COLUMNS], [example]),
                 ("填写说明", ["列名", "是否必填", "说明"], notes)])


class _Lookups:
    """Reference tables by name and by code, loaded once per import."""

    def __init__(self, session: Session):
        def index(model, *attrs):
            out = {}
            for obj in session.execute(select(model)).scalars():
                for attr in attrs:
                    out[str(getattr(obj, attr)).strip()] = obj
            return out

        self.prefectures = index(Prefecture, "name", "code")
        self.specialties = index(Specialty, "name", "code")
        self.titles = index(Title, "name")
        self.political = index(PoliticalStatus, "name", "code")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _build_expert(values: dict[str, str], lookups: _Lookups) -> Expert:
    """An Expert from one row, or ValidationError with the first reason."""
    name = validate_name(values.get("姓名"))
    info = parse_id_number(values.get("身份证号"))
    check_id_agrees(info.number, None, values.get("性别") or None)
    phone = validate_phone(values.get("手机号码"))
    prefecture = lookups.prefectures.get(values.get("所在市州", ""))
    if prefecture is None:
        raise ValidationError(f"所在市州“{values.get('所在市州', '')}”不存在")
    employer = values.get("工作单位", "")
    if not employer:
        raise ValidationError("请填写工作单位")
    specialty = lookups.specialties.get(values.get("从事专业类别", ""))
    if specialty is None:
        raise ValidationError(f"从事专业类别“{values.get('从事专业类别', '')}”不存在")
    title = lookups.titles.get(values.get("职称", ""))
    if title is None:
        raise ValidationError(f"职称“{values.get('职称', '')}”不在职称列表中")
    batch = values.get("入库批次", "")
    if not batch:
        raise ValidationError("请填写入库批次")
    admission_type = values.get("入库类型") or AdmissionType.RENEWAL.value
    if admission_type not in {t.value for t in AdmissionType}:
        raise ValidationError("入库类型应为 续聘、新聘 或 其他")
    political = None
    if values.get("政治面貌"):
        political = lookups.political.get(values["政治面貌"])
        if political is None:
            raise ValidationError(f"政治面貌“{values['政治面貌']}”不存在")
    email = validate_email(values["本人电子邮箱"]) if values.get("本人电子邮箱") else None
    backup = validate_phone(values["本人备用手机号码"]) if values.get("本人备用手机号码") else None
    return Expert(
        name=name, id_number=info.number, birth_date=info.birth_date, gender=info.gender,
        phone=phone, prefecture=prefecture, employer=employer, main_specialty=specialty,
        title=title, admission_batch=batch, admission_type=admission_type,
        political_status=political, email=email, backup_phone=backup,
        address=values.get("详细地址") or None, status=ExpertStatus.DRAFT.value,
    )


def import_experts(
    session: Session,
    content: bytes,
    *,
    file_name: str = "",
    actor_id: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch: ImportBatch | None = None,
) -> ImportReport:
    """Imports the file's good rows (each in a savepoint) and records the import in
    ``batch`` (a queued one) or a new ImportBatch. Flushes; the caller commits (the
    request, the command line, or the import task, which also commits as it goes through
    ``progress``)."""
    report = ImportReport()
    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:
        report.file_error = "无法读取该文件，请使用导入模板（.xlsx 格式）"
        return report
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [_cell(h) for h in next(rows, ())]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        report.file_error = f"缺少必填列：{'、'.join(missing)}（请使用导入模板）"
        return report
    positions = {name: header.index(name) for name, _ in IMPORT_COLUMNS if name in header}
    data_rows = [r for r in rows]
    total = len(data_rows)
    lookups = _Lookups(session)
    seen_ids: dict[str, int] = {}
    seen_phones: dict[str, int] = {}
    for offset, raw in enumerate(data_rows):
        row_no = offset + 2  # Excel numbering, the header being row 1
        values = {name: _cell(raw[i]) if i < len(raw) else "" for name, i in positions.items()}
        if progress:
            progress(offset + 1, total)
        if not any(values.values()):
            continue
        name = values.get("姓名", "")
        try:
            expert = _build_expert(values, lookups)
        except ValidationError as exc:
            report.errors.append(RowError(row_no, name, exc.message))
            continue
        if expert.id_number in seen_ids:
            report.errors.append(RowError(
                row_no, name, f"身份证号与第{seen_ids[expert.id_number]}行重复"))
            continue
        seen_ids[expert.id_number] = row_no
        existing = session.execute(
            select(Expert).where(Expert.id_number == expert.id_number)
        ).scalar_one_or_none()
        if existing is not None:
            report.unchanged += 1
            continue
        if expert.phone in seen_phones:
            report.errors.append(RowError(
                row_no, name, f"手机号码与第{seen_phones[expert.phone]}行重复"))
            continue
        seen_phones[expert.phone] = row_no
        phone_owner = session.execute(
            select(Expert.name).where(Expert.phone == expert.phone)
        ).scalar_one_or_none()
        if phone_owner is not None:
            report.errors.append(RowError(row_no, name, "手机号码已被其他专家使用"))
            continue
        try:
            with session.begin_nested():
                prepare_new_expert(session, expert)
        except Exception as exc:  # a database refusal: report the row, keep the rest
            session.expunge(expert) if expert in session else None
            report.errors.append(RowError(row_no, name, f"保存失败：{type(exc).__name__}"))
            continue
        report.created += 1
    if batch is None:
        batch = ImportBatch(sha256=hashlib.sha256(content).hexdigest(), file_name=file_name[:255],
                            imported_by_id=actor_id)
        session.add(batch)
    batch.created, batch.unchanged, batch.failed = report.created, report.unchanged, report.failed
    batch.report = json.dumps([[e.row, e.name, e.reason] for e in report.errors],
                              ensure_ascii=False)
    session.flush()
    return report


# ---------------------------------------------------------------- on the worker

TASK_IMPORT = "experts.import"
PROGRESS_EVERY = 50  # rows between two progress commits of the import task


def _import_path(upload_dir: str | Path, stored_name: str) -> Path:
    return Path(upload_dir) / "imports" / stored_name


def queue_import(session: Session, content: bytes, *, file_name: str, actor: audit.Actor,
                 upload_dir: str | Path,
                 on_failure: Callable[[str], None] | None = None) -> ImportBatch:
    """导入专家 from the screen: the file is kept and an ImportBatch (排队中) is added, in the
    audit trail under the person who uploaded it (the task's outcome is recorded by 系统);
    the import task is sent once the request commits. Flushes."""
    actor_id = actor.id
    sha = hashlib.sha256(content).hexdigest()
    stored_name = f"{uuid.uuid4().hex}.xlsx"
    path = _import_path(upload_dir, stored_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    batch = ImportBatch(sha256=sha, file_name=file_name[:255], imported_by_id=actor_id,
                        status=BatchStatus.QUEUED, stored_name=stored_name,
                        task_id=uuid.uuid4().hex, imported_at=utcnow())
    session.add(batch)
    session.flush()
    audit.record(session, Action.IMPORT, actor=actor, object_type="专家",
                 object_id=batch.id, detail=f"{file_name}：已提交导入")
    jobs.send_after_commit(session, TASK_IMPORT, batch.id, batch.task_id,
                           task_id=f"import-{batch.id}-{batch.task_id}", on_failure=on_failure)
    return batch


def report_of(batch: ImportBatch) -> ImportReport:
    """The finished import's report, as the screen shows it."""
    errors = [RowError(*e) for e in json.loads(batch.report or "[]")]
    report = ImportReport(created=batch.created, unchanged=batch.unchanged, errors=errors)
    if batch.status == BatchStatus.FAILED:
        report.file_error = batch.message
    return report


def progress_percent(batch: ImportBatch) -> int:
    if batch.status == BatchStatus.DONE:
        return 100
    return min(100, batch.done * 100 // batch.total) if batch.total else 0


def _mark(session: Session, batch_id: int, key: str, status: BatchStatus, message: str) -> None:
    session.execute(
        update(ImportBatch).where(ImportBatch.id == batch_id, ImportBatch.task_id == key,
                                  ImportBatch.status.in_((BatchStatus.QUEUED, BatchStatus.RUNNING)))
        .values(status=status, message=message, finished_at=utcnow())
        .execution_options(synchronize_session=False))


def _failed(session: Session, cfg: Any, exc: BaseException, batch_id: int, key: str) -> None:
    _mark(session, batch_id, key, BatchStatus.FAILED, f"导入中断：{type(exc).__name__}: {exc}"[:500])


def _unsent(session: Session, batch_id: int, key: str) -> None:
    _mark(session, batch_id, key, BatchStatus.FAILED, jobs.QUEUE_DOWN)


@jobs.job(TASK_IMPORT, inline_setting="EXPERT_IMPORT_INLINE", on_error=_failed,
          on_unsent=_unsent)
def import_job(session: Session, cfg: Any, batch_id: int, key: str) -> int:
    """The import task: progress (rows read of all) committed every PROGRESS_EVERY rows
    with the experts imported so far; run again after a lost worker, the rows already
    imported are found present and left unchanged."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None or batch.task_id != key or not batch.is_active:
        return 0
    batch.status = BatchStatus.RUNNING
    unit_of_work.commit(session)
    content = _import_path(cfg["UPLOAD_FOLDER"], batch.stored_name).read_bytes()

    def progress(done: int, total: int) -> None:
        batch.done, batch.total = done, total
        if done % PROGRESS_EVERY == 0:
            unit_of_work.commit(session)

    report = import_experts(session, content, file_name=batch.file_name or "",
                            actor_id=batch.imported_by_id, progress=progress, batch=batch)
    if report.file_error:
        batch.status, batch.message = BatchStatus.FAILED, report.file_error
    else:
        batch.status = BatchStatus.DONE
        batch.message = (f"新增{report.created}，未更改{report.unchanged}，失败{report.failed}")
        user = batch.imported_by
        audit.record(session, Action.IMPORT, actor=audit.SYSTEM, object_type="专家",
                     object_id=batch.id, detail=(f"{batch.file_name}（{user.username if user else ''}）："
                                                 f"{batch.message}"))
    batch.finished_at = utcnow()
    unit_of_work.commit(session)
    return report.created
