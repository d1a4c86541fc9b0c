"""Import of the experts already in the library (the 2024 batches) from an xlsx file.

Every row is reported (导入成功 / 已存在 / 错误) with its Excel row number and, for a bad
row, the reason in Chinese for each column at fault; good rows are imported, each in its
own savepoint (a failure never leaves half a row); an expert already present (same
身份证号) is left as it is, so importing the same file again changes nothing. An optional
账号 column keeps the account an expert registered with; without it the account is the
name's pinyin (accounts.pinyin_account). The template is made here with dropdowns read
from the reference tables; from the screen the import runs as a background job.
"""
from __future__ import annotations

import enum
import hashlib
import io
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.models import (
    AdmissionType,
    AppUser,
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
from app.services.accounts import default_password, hash_password, validate_account
from app.services.audit import Action
from app.services.experts import expert_role, prepare_new_expert
from app.services.export import xlsx
from app.services.validators import (
    ValidationError,
    check_id_agrees,
    looks_like_phone,
    normalize_phone,
    parse_id_number,
    validate_email,
    validate_name,
    validate_phone,
)

REQUIRED_COLUMNS = ["姓名", "身份证号", "手机号码", "所在市州", "工作单位", "从事专业类别",
                    "职称", "入库批次"]
OPTIONAL_COLUMNS = ["性别", "政治面貌", "本人电子邮箱", "入库类型", "详细地址", "本人备用手机号码",
                    "账号"]
IMPORT_COLUMNS = [(c, True) for c in REQUIRED_COLUMNS] + [(c, False) for c in OPTIONAL_COLUMNS]
COLUMN_NOTES = {
    "姓名": "汉字；少数民族姓名用“·”分隔，如 买买提·艾力",
    "身份证号": "18位，末位X大小写均可；出生年月和性别由此得出",
    "手机号码": "11位手机号，可带+86；也作为登录账号",
    "所在市州": "从下拉列表选择，或填市州代码，如 650100",
    "工作单位": "单位全称",
    "从事专业类别": "从下拉列表选择，或填专业代码，如 A0101",
    "职称": "从下拉列表选择",
    "入库批次": "如 2024年第一批",
    "性别": "可不填；填写时须与身份证号一致",
    "政治面貌": "可不填；从下拉列表选择",
    "本人电子邮箱": "可不填",
    "入库类型": "续聘 / 新聘 / 其他，不填为续聘",
    "详细地址": "可不填",
    "本人备用手机号码": "可不填",
    "账号": ("可不填：专家原注册时的登录账号，导入后专家仍用它登录；小写字母、数字和 . _ -。"
             "不填则按姓名拼音生成（重名时加数字）"),
}
# the columns offered as dropdowns in the template, and where their values come from
DROPDOWN_COLUMNS = ["所在市州", "从事专业类别", "职称", "政治面貌", "入库类型"]
TEMPLATE_ROWS = 2000  # rows of the template that carry the dropdowns and the text format
TEXT_COLUMNS = ("身份证号", "手机号码", "本人备用手机号码", "账号")  # never numbers in Excel
REFERENCE_SHEET = "选项"
PROGRESS_SECONDS = 0.5  # the import task commits its progress at least this often


class RowOutcome(enum.StrEnum):
    """What became of one row of the file (the report's 结果 column)."""

    CREATED = "导入成功"
    UNCHANGED = "已存在"
    ERROR = "错误"


@dataclass
class RowResult:
    row: int
    name: str
    outcome: str
    reason: str = ""
    account: str = ""

    @property
    def is_error(self) -> bool:
        return self.outcome == RowOutcome.ERROR

    @property
    def is_created(self) -> bool:
        return self.outcome == RowOutcome.CREATED


RowError = RowResult  # the rows refused: results whose outcome is 错误


@dataclass
class ImportReport:
    created: int = 0
    unchanged: int = 0
    rows: list[RowResult] = field(default_factory=list)
    file_error: str | None = None

    @property
    def errors(self) -> list[RowResult]:
        return [r for r in self.rows if r.is_error]

    @property
    def failed(self) -> int:
        return len(self.errors)

    def add(self, row: int, name: str, outcome: RowOutcome, reason: str = "",
            account: str = "") -> None:
        self.rows.append(RowResult(row, name, outcome.value, reason, account))
        if outcome == RowOutcome.CREATED:
            self.created += 1
        elif outcome == RowOutcome.UNCHANGED:
            self.unchanged += 1


def _reference_values(session: Session) -> dict[str, list[str]]:
    """The dropdowns' lists: the names staff pick from (codes are accepted as well)."""
    def names(model, order) -> list[str]:
        return list(session.execute(select(model.name).order_by(order)).scalars())

    specialties = list(dict.fromkeys(names(Specialty, Specialty.code)))
    return {"所在市州": names(Prefecture, Prefecture.code), "从事专业类别": specialties,
            "职称": names(Title, Title.id), "政治面貌": names(PoliticalStatus, PoliticalStatus.code),
            "入库类型": [t.value for t in AdmissionType]}


def _column_lists(values: dict[str, list[str]], columns: list[str]) -> list[list[str | None]]:
    """Lists of different lengths side by side, one column each, as sheet rows."""
    longest = max((len(values[c]) for c in columns), default=0)
    return [[values[c][i] if i < len(values[c]) else None for c in columns]
            for i in range(longest)]


def template_workbook(session: Session) -> bytes:
    """导入模板: the columns with their notes (cell comments and a 填写说明 sheet), the
    reference values on a hidden sheet and dropdowns (data validation) reading from it.
    Every cell's value is written by export.xlsx (text as text); what is added here after
    is only presentation: fonts, comments, widths, formats, the dropdowns."""
    columns = [c for c, _ in IMPORT_COLUMNS]
    required = dict(IMPORT_COLUMNS)
    values = _reference_values(session)
    notes = [[column, "必填" if required[column] else "选填", COLUMN_NOTES.get(column, "")]
             for column in columns]
    notes += [[None, None, None],
              ["示例", None, "张三，650102198001011236，13800138000，乌鲁木齐市，新疆某建设集团有限公司，"
               "建筑工程（土建），高级工程师，2024年第一批"],
              ["说明", None, "同一身份证号的专家已在库时不作更改（已存在）；每行的错误逐列说明，"
               "改正后重新导入即可，已导入的行不会重复"]]
    content = xlsx([("专家信息", columns, []),
                    (REFERENCE_SHEET, DROPDOWN_COLUMNS, _column_lists(values, DROPDOWN_COLUMNS)),
                    ("填写说明", ["列名", "是否必填", "说明"], notes)])
    wb = load_workbook(io.BytesIO(content))
    ws, ref = wb["专家信息"], wb[REFERENCE_SHEET]
    ref.sheet_state = "hidden"
    red = Font(bold=True, color="C00000")
    for index, column in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=index)
        if required[column]:
            cell.font = red
        note = ("必填。" if required[column] else "选填。") + COLUMN_NOTES.get(column, "")
        cell.comment = Comment(note, "评标专家管理系统", width=260, height=110)
        letter = get_column_letter(index)
        ws.column_dimensions[letter].width = 22 if column in TEXT_COLUMNS else 16
        if column in TEXT_COLUMNS:
            for row in range(2, TEMPLATE_ROWS + 2):
                ws.cell(row=row, column=index).number_format = "@"
    ws.freeze_panes = "A2"
    for index, column in enumerate(DROPDOWN_COLUMNS, start=1):
        source = get_column_letter(index)
        last = max(2, len(values[column]) + 1)
        validation = DataValidation(
            type="list", formula1=f"'{REFERENCE_SHEET}'!${source}$2:${source}${last}",
            allow_blank=True, showErrorMessage=True, errorStyle="warning",
            errorTitle="请从列表中选择", error=f"{column}请从下拉列表中选择（也可填代码）",
            showInputMessage=True, promptTitle=column, prompt=COLUMN_NOTES[column][:250])
        target = get_column_letter(columns.index(column) + 1)
        validation.add(f"{target}2:{target}{TEMPLATE_ROWS + 1}")
        ws.add_data_validation(validation)
    sheet = wb["填写说明"]
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["C"].width = 90
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


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
        self.expert_role = expert_role(session)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


class RowInvalid(ValidationError):
    """A row's reasons, one per column at fault: 列名：原因."""

    def __init__(self, reasons: list[str]):
        super().__init__("；".join(reasons))
        self.reason = self.message


def _build_expert(values: dict[str, str], lookups: _Lookups) -> tuple[Expert, str]:
    """An Expert from one row and the 账号 asked for ("" for the pinyin), or RowInvalid
    with every column's reason."""
    reasons: list[str] = []

    def check(column: str, fn, *args):
        try:
            return fn(*args)
        except ValidationError as exc:
            reasons.append(f"{column}：{exc.message}")
            return None

    def pick(column: str, table: dict, missing: str):
        typed = values.get(column, "")
        if not typed:
            reasons.append(f"{column}：请填写{column}")
            return None
        found = table.get(typed)
        if found is None:
            reasons.append(f"{column}：“{typed}”{missing}")
        return found

    name = check("姓名", validate_name, values.get("姓名"))
    info = check("身份证号", parse_id_number, values.get("身份证号"))
    if info is not None and values.get("性别"):
        check("性别", check_id_agrees, info.number, None, values.get("性别"))
    phone = check("手机号码", validate_phone, values.get("手机号码"))
    prefecture = pick("所在市州", lookups.prefectures, "不在市州列表中")
    employer = values.get("工作单位", "")
    if not employer:
        reasons.append("工作单位：请填写工作单位")
    specialty = pick("从事专业类别", lookups.specialties, "不在专业类别列表中")
    title = pick("职称", lookups.titles, "不在职称列表中")
    batch = values.get("入库批次", "")
    if not batch:
        reasons.append("入库批次：请填写入库批次")
    admission_type = values.get("入库类型") or AdmissionType.RENEWAL.value
    if admission_type not in {t.value for t in AdmissionType}:
        reasons.append("入库类型：应为 续聘、新聘 或 其他")
    political = None
    if values.get("政治面貌"):
        political = lookups.political.get(values["政治面貌"])
        if political is None:
            reasons.append(f"政治面貌：“{values['政治面貌']}”不在政治面貌列表中")
    email = (check("本人电子邮箱", validate_email, values["本人电子邮箱"])
             if values.get("本人电子邮箱") else None)
    backup = (check("本人备用手机号码", validate_phone, values["本人备用手机号码"])
              if values.get("本人备用手机号码") else None)
    account = ""
    if values.get("账号"):
        account = check("账号", validate_account, values["账号"]) or ""
        if account and looks_like_phone(account) and phone and normalize_phone(account) != phone:
            reasons.append("账号：形如手机号码的账号须是本人的手机号码")
    if reasons:
        raise RowInvalid(reasons)
    expert = Expert(
        name=name, id_number=info.number, birth_date=info.birth_date, gender=info.gender,
        phone=phone, prefecture=prefecture, employer=employer, main_specialty=specialty,
        title=title, admission_batch=batch, admission_type=admission_type,
        political_status=political, email=email, backup_phone=backup,
        address=values.get("详细地址") or None, status=ExpertStatus.DRAFT.value,
    )
    return expert, account


def _account_clash(session: Session, account: str) -> bool:
    """Accounts are matched without case at login (AUTH_USERNAME_CI): so is a clash."""
    return session.execute(select(AppUser.id).where(
        func.lower(AppUser.username) == account)).first() is not None


def _give_account(session: Session, expert: Expert, account: str, role: Any) -> None:
    """The expert keeps the account they registered with (原注册时的账号), with the
    default password to be changed at first login, like a generated one."""
    user = AppUser(username=account, first_name=expert.name, last_name="",
                   email=f"{account}@expert.invalid", active=True,
                   password=hash_password(default_password(expert.id_number)),
                   must_change_password=True)
    user.roles = [role]
    session.add(user)
    session.flush()
    expert.user, expert.user_id = user, user.id


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
    ``batch`` (a queued one) or a new ImportBatch, with every row's result. Flushes; the
    caller commits (the request, the command line, or the import task, which also commits
    as it goes through ``progress``)."""
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
    while data_rows and not any(_cell(v) for v in data_rows[-1]):
        data_rows.pop()  # the template's formatted but empty rows
    total = len(data_rows)
    lookups = _Lookups(session)
    seen_ids: dict[str, int] = {}
    seen_phones: dict[str, int] = {}
    seen_accounts: dict[str, int] = {}
    error = RowOutcome.ERROR
    for offset, raw in enumerate(data_rows):
        row_no = offset + 2  # Excel numbering, the header being row 1
        values = {name: _cell(raw[i]) if i < len(raw) else "" for name, i in positions.items()}
        if progress:
            progress(offset + 1, total)
        if not any(values.values()):
            continue
        name = values.get("姓名", "")
        try:
            expert, account = _build_expert(values, lookups)
        except RowInvalid as exc:
            report.add(row_no, name, error, exc.reason)
            continue
        if expert.id_number in seen_ids:
            report.add(row_no, name, error, f"身份证号：与第{seen_ids[expert.id_number]}行重复")
            continue
        seen_ids[expert.id_number] = row_no
        existing = session.execute(
            select(Expert).where(Expert.id_number == expert.id_number)
        ).scalar_one_or_none()
        if existing is not None:
            report.add(row_no, name, RowOutcome.UNCHANGED, "该身份证号的专家已在库，未作更改",
                       existing.user.username if existing.user else "")
            continue
        reasons = []
        if expert.phone in seen_phones:
            reasons.append(f"手机号码：与第{seen_phones[expert.phone]}行重复")
        elif session.execute(select(Expert.id).where(Expert.phone == expert.phone)).first():
            reasons.append("手机号码：已被其他专家使用")
        if account and account in seen_accounts:
            reasons.append(f"账号：与第{seen_accounts[account]}行重复")
        elif account and _account_clash(session, account):
            reasons.append(f"账号：“{account}”已被其他用户使用，请核对原注册账号")
        seen_phones.setdefault(expert.phone, row_no)
        if account:
            seen_accounts.setdefault(account, row_no)
        if reasons:
            report.add(row_no, name, error, "；".join(reasons))
            continue
        try:
            with session.begin_nested():
                if account:
                    _give_account(session, expert, account, lookups.expert_role)
                prepare_new_expert(session, expert)
        except Exception as exc:  # a database refusal: report the row, keep the rest
            session.expunge(expert) if expert in session else None
            report.add(row_no, name, error, f"保存失败：{type(exc).__name__}")
            continue
        report.add(row_no, name, RowOutcome.CREATED, "", expert.user.username)
    if batch is None:
        batch = ImportBatch(sha256=hashlib.sha256(content).hexdigest(), file_name=file_name[:255],
                            imported_by_id=actor_id)
        session.add(batch)
    batch.created, batch.unchanged, batch.failed = report.created, report.unchanged, report.failed
    batch.report = json.dumps([[r.row, r.name, r.outcome, r.reason, r.account]
                               for r in report.rows], ensure_ascii=False)
    session.flush()
    return report


REPORT_HEADER = ["行号", "姓名", "结果", "原因", "账号"]


def report_workbook(batch: ImportBatch) -> bytes:
    """导入结果 as xlsx: every row of the file with its result (and the account created)."""
    report = report_of(batch)
    rows = [[r.row, r.name, r.outcome, r.reason, r.account] for r in report.rows]
    summary = [["文件名", batch.file_name or ""], ["新增", report.created],
               ["已存在未更改", report.unchanged], ["失败", report.failed]]
    if report.file_error:
        summary.append(["说明", report.file_error])
    return xlsx([("导入结果", REPORT_HEADER, rows), ("汇总", ["项目", "数值"], summary)])


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
    """The finished import's report, as the screen shows it: every row with its result
    (imports recorded before the per-row report kept only the refused rows)."""
    report = ImportReport(created=batch.created, unchanged=batch.unchanged)
    for entry in json.loads(batch.report or "[]"):
        if len(entry) == 3:  # [row, name, reason]: a refused row of an older import
            report.rows.append(RowResult(entry[0], entry[1], RowOutcome.ERROR.value, entry[2]))
        else:
            report.rows.append(RowResult(*entry[:5]))
    if batch.status == BatchStatus.FAILED:
        report.file_error = batch.message
    return report


def progress_state(batch: ImportBatch) -> dict[str, Any]:
    """What the import's page polls (import.js): the bar, the counts, finished or not."""
    return {"percent": progress_percent(batch), "done": batch.done, "total": batch.total,
            "status": str(batch.status), "finished": not batch.is_active,
            "created": batch.created, "unchanged": batch.unchanged, "failed": batch.failed,
            "message": batch.message or ""}


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

    last = time.monotonic()

    def progress(done: int, total: int) -> None:
        # committed every PROGRESS_EVERY rows or PROGRESS_SECONDS, whichever comes first, so
        # the page's bar moves at least twice a second
        nonlocal last
        batch.done, batch.total = done, total
        if done % PROGRESS_EVERY == 0 or time.monotonic() - last >= PROGRESS_SECONDS:
            unit_of_work.commit(session)
            last = time.monotonic()

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
