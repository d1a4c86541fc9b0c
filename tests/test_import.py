"""import-experts: good rows in, bad rows reported with row number and reason, re-import no-op."""
import io

import pytest
from openpyxl import Workbook, load_workbook

from app.services.importer import REQUIRED_COLUMNS, import_experts
from tests.conftest import login_staff, page_text, unique_identity

HEADER = REQUIRED_COLUMNS + ["性别", "本人电子邮箱"]


def workbook(rows, header=HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def good_row(name="导入甲"):
    id_number, phone = unique_identity()
    gender = "男" if int(id_number[16]) % 2 else "女"
    return [name, id_number, phone, "乌鲁木齐市", "新疆建工集团", "建筑工程（土建）", "高级工程师",
            "2024年第一批", gender, "daoru@example.com"]


def run_import(app, content):
    from app.extensions import db
    from app.services import unit_of_work

    with app.app_context():
        report = import_experts(db.session, content, file_name="test.xlsx")
        unit_of_work.commit(db.session)  # the caller commits (the CLI, the import task)
        db.session.remove()
    return report


def test_good_file_then_reimport_changes_nothing(app):
    from app.extensions import db
    from app.models import AppUser, Expert

    rows = [good_row("导入甲"), good_row("买买提·导入"), good_row("导入甲")]
    content = workbook(rows)
    report = run_import(app, content)
    assert (report.created, report.unchanged, report.failed) == (3, 0, 0)
    with app.app_context():
        experts = db.session.query(Expert).filter(
            Expert.id_number.in_([r[1] for r in rows])).all()
        names = sorted(e.user.username for e in experts)
        assert all(e.status == "草稿" and e.admission_type == "续聘" for e in experts)
        assert all(e.user.must_change_password for e in experts)
        users = db.session.query(AppUser).count()
        db.session.remove()
    assert any(n.startswith("maimaiti") for n in names)
    daoru = sorted(n for n in names if n.startswith("daoru"))
    assert len(daoru) == 2 and daoru[0] != daoru[1]  # a clash gets a number

    again = run_import(app, content)
    assert (again.created, again.unchanged, again.failed) == (0, 3, 0)
    with app.app_context():
        assert db.session.query(AppUser).count() == users
        db.session.remove()


def test_bad_rows_are_reported_and_good_rows_imported(app):
    good = good_row("好行")
    bad_id = good_row("坏身份证")
    bad_id[1] = bad_id[1][:-1] + ("0" if bad_id[1][-1] != "0" else "1")
    bad_phone = good_row("坏手机")
    bad_phone[2] = "12345"
    bad_city = good_row("坏市州")
    bad_city[3] = "火星市"
    bad_gender = good_row("坏性别")
    bad_gender[8] = "女" if bad_gender[8] == "男" else "男"
    dup = list(good)
    dup[0] = "重复行"
    report = run_import(app, workbook([good, bad_id, bad_phone, bad_city, bad_gender, dup]))
    assert report.created == 1
    reasons = {e.row: e.reason for e in report.errors}
    assert "校验位" in reasons[3]
    assert "手机号码" in reasons[4]
    assert "火星市" in reasons[5]
    assert "性别" in reasons[6]
    assert "第2行重复" in reasons[7]


def test_missing_columns_and_unreadable_files(app):
    report = run_import(app, workbook([["张三"]], header=["姓名"]))
    assert "缺少必填列" in report.file_error and "身份证号" in report.file_error
    report = run_import(app, b"this is not an xlsx file")
    assert "无法读取" in report.file_error


def test_cli_import_with_progress(app, tmp_path):
    path = tmp_path / "experts.xlsx"
    path.write_bytes(workbook([good_row("命令行"), ["", "", "", "", "", "", "", ""],
                               ["坏", "1", "", "", "", "", "", ""]]))
    result = app.test_cli_runner().invoke(args=["import-experts", str(path)])
    assert result.exit_code == 0, result.output
    assert "新增 1 人" in result.output and "失败 1 行" in result.output
    assert "第4行" in result.output


@pytest.mark.commits  # the job runs in a session of its own: it must see committed rows
def test_staff_upload_screen_and_template(app):
    client = app.test_client()
    login_staff(client)
    template = client.get("/experts/import/template")
    assert template.status_code == 200
    header = [c.value for c in load_workbook(io.BytesIO(template.data)).active[1]]
    assert header[:len(REQUIRED_COLUMNS)] == REQUIRED_COLUMNS

    bad = good_row("上传坏")
    bad[2] = "1"
    app.config["EXPERT_IMPORT_INLINE"] = True  # the import task runs after the request's commit
    try:  # the upload answers with the import's page: its report once the task has run
        resp = client.post("/experts/import/", data={
            "file": (io.BytesIO(workbook([good_row("上传好"), bad])), "专家.xlsx")},
            content_type="multipart/form-data", follow_redirects=True)
    finally:
        app.config["EXPERT_IMPORT_INLINE"] = False
    text = page_text(resp)
    assert "新增 1 人" in text and "第3行" in text and "手机号码" in text

    resp = client.post("/experts/import/", data={"file": (io.BytesIO(b"x"), "专家.csv")},
                       content_type="multipart/form-data")
    assert "请上传 Excel 文件" in page_text(resp)
    resp = client.post("/experts/import/", data={}, content_type="multipart/form-data")
    assert "请选择要导入的文件" in page_text(resp)


def test_expert_cannot_import(app, make_expert):
    from tests.conftest import login_expert

    client = app.test_client()
    login_expert(client, make_expert())
    assert client.get("/experts/import/").status_code == 403
    assert client.get("/experts/import/template").status_code == 403
