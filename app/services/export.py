"""导出 Excel: experts as xlsx with Chinese headers; personal data masked."""
from __future__ import annotations

import io
from collections.abc import Iterable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from app.models import Expert

EXPORT_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

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
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("专家列表")
    header = []
    for title, _ in EXPORT_COLUMNS:
        cell = WriteOnlyCell(ws, value=title)
        cell.font = Font(bold=True)
        header.append(cell)
    ws.append(header)
    for expert in experts:
        ws.append([getter(expert) or "" for _, getter in EXPORT_COLUMNS])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
