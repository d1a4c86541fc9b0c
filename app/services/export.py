"""导出 Excel: experts as xlsx with Chinese headers; personal data masked.

Every xlsx and csv the app writes goes through ``xlsx`` or ``csv_writer`` here: text typed by
an expert or staff (工作单位 = ``=HYPERLINK(...)``) must reach the spreadsheet as the text
typed, never as a formula that runs or phones home when the file is opened."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font

from app.models import Expert

EXPORT_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What a spreadsheet reads as the start of a formula (OWASP, CSV injection).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def _cell(ws, value: Any, font: Font | None = None) -> Cell:
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        # openpyxl turns a string starting with "=" into a formula; a typed string cell
        # shows exactly the text (Excel and WPS evaluate no shared string), "-5" included.
        cell.data_type = "s"
    if font is not None:
        cell.font = font
    return cell


def xlsx(sheets: Iterable[tuple[str, Sequence[Any], Iterable[Sequence[Any]]]]) -> bytes:
    """An xlsx of (sheet title, header row, rows) sheets: headers bold, text as text."""
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title)
        ws.append([_cell(ws, value, bold) for value in header])
        for row in rows:
            ws.append([_cell(ws, value) for value in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_text(value: Any) -> str:
    """A csv field that a spreadsheet shows as text: a leading ' before what would start a
    formula (csv has no cell types). A plain number such as -5 is left as it is."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_LEADS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class _SafeCsvWriter:
    def __init__(self, out: TextIO):
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([csv_text(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: TextIO) -> _SafeCsvWriter:
    """``csv.writer`` whose fields go through ``csv_text``."""
    return _SafeCsvWriter(out)

EXPORT_COLUMNS: list[tuple[str, object]] = [
    ("申请专家编号", lambda e: e.application_no),
    ("专家编号", lambda e: e.expert_no),
    ("账号", lambda e: e.account),
    ("姓名", lambda e: e.name),
    ("性别", lambda e: e.gender),
    ("出生年月", lambda e: e.birth_date.strftime("%Y-%m") if e.birth_date else ""),
    ("身份证号", lambda e: e.id_number_masked),
    ("政治面貌", lambda e: e.political_status.name if e.political_status else ""),
    ("所在市州", lambda e: e.prefecture.name if e.prefecture else ""),
    ("本人手机号码", lambda e: e.phone_masked),
    ("本人电子邮箱", lambda e: e.email),
    ("工作单位", lambda e: e.employer),
    ("从事专业类别", lambda e: e.main_specialty.name if e.main_specialty else ""),
    ("职称", lambda e: e.title.name if e.title else ""),
    ("入库类型", lambda e: e.admission_type),
    ("入库批次", lambda e: e.admission_batch),
    ("是否接受远程异地评标", lambda e: _yes_no(e.accepts_remote)),
    ("是否愿意成为应急专家", lambda e: _yes_no(e.emergency_expert)),
    ("状态", lambda e: e.status),
]


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("是" if value else "否")


def export_experts(experts: Iterable[Expert]) -> bytes:
    rows = ([getter(expert) or "" for _, getter in EXPORT_COLUMNS] for expert in experts)
    return xlsx([("专家列表", [title for title, _ in EXPORT_COLUMNS], rows)])
