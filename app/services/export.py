"""导出 Excel: the xlsx and csv writers (the staff lists' export is app/views/_export.py).

Every xlsx and csv the app writes goes through ``xlsx`` or ``csv_writer`` here: text typed by
an expert or staff (工作单位 = ``=HYPERLINK(...)``) must reach the spreadsheet as the text
typed, never as a formula that runs or phones home when the file is opened."""
from __future__ import annotations

import csv
import io
import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

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


# Column widths are measured on the header and the first rows (the sheet is streamed: the
# widths are written before the rows), in Excel's character units.
WIDTH_SAMPLE_ROWS = 1000
MIN_WIDTH, MAX_WIDTH = 6, 60


def display_width(value: Any) -> int:
    """How many narrow characters ``value`` takes on screen: CJK (wide) characters count
    double; the longest line of a multi-line text."""
    if value is None:
        return 0
    text = value if isinstance(value, str) else str(value)
    widest = 0
    for line in text.splitlines() or [""]:
        widest = max(widest, sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1
                                 for ch in line))
    return widest


def column_widths(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> list[float]:
    widths = [display_width(h) for h in header]
    for row in rows:
        for i, value in enumerate(row):
            if i < len(widths):
                widths[i] = max(widths[i], display_width(value))
    return [min(MAX_WIDTH, max(MIN_WIDTH, w + 2)) for w in widths]


def xlsx(sheets: Iterable[tuple[str, Sequence[Any], Iterable[Sequence[Any]]]], *,
         frozen_header: bool = True, autofilter: bool = True) -> bytes:
    """An xlsx of (sheet title, header row, rows) sheets: headers bold, text as text, the
    header row frozen and filterable, the columns as wide as their content."""
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, header, rows in sheets:
        ws = wb.create_sheet(title)
        rows = iter(rows)
        sample = list(itertools.islice(rows, WIDTH_SAMPLE_ROWS))
        for i, width in enumerate(column_widths(header, sample), start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        if frozen_header:
            ws.freeze_panes = "A2"
        ws.append([_cell(ws, value, bold) for value in header])
        count = 0
        for row in itertools.chain(sample, rows):
            ws.append([_cell(ws, value) for value in row])
            count += 1
        if autofilter and header:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{count + 1}"
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
