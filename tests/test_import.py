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


# ---------------------------------------------------------------- issue 13: the template,
# the per-row report, the 账号 column, the background job with its progress

def test_template_has_dropdowns_reading_a_hidden_sheet(app):
    from app.extensions import db
    from app.models import PoliticalStatus, Prefecture, Title
    from app.services.importer import DROPDOWN_COLUMNS, IMPORT_COLUMNS, TEMPLATE_ROWS

    client = app.test_client()
    login_staff(client)
    resp = client.get("/experts/import/template")
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    ws, ref = wb["专家信息"], wb["选项"]
    assert ref.sheet_state == "hidden" and wb["填写说明"].sheet_state == "visible"
    header = [c.value for c in ws[1]]
    assert header == [c for c, _ in IMPORT_COLUMNS] and "账号" in header
    assert all(c.comment is not None and c.comment.text for c in ws[1])  # every column explained
    assert "原注册时的登录账号" in ws.cell(row=1, column=header.index("账号") + 1).comment.text
    assert ws.max_row == TEMPLATE_ROWS + 1 and not any(c.value for c in ws[2])  # no example row
    validations = {}
    for dv in ws.data_validations.dataValidation:
        (target,) = str(dv.sqref).split()
        validations[target] = dv
    with app.app_context():
        expected = {
            "所在市州": db.session.query(Prefecture).count(),
            "职称": db.session.query(Title).count(),
            "政治面貌": db.session.query(PoliticalStatus).count(),
            "入库类型": 3,
        }
        prefectures = {p.name for p in db.session.query(Prefecture)}
    for index, column in enumerate(DROPDOWN_COLUMNS, start=1):
        letter = "ABCDEFGHIJKLMNOP"[header.index(column)]
        dv = validations[f"{letter}2:{letter}{TEMPLATE_ROWS + 1}"]
        assert dv.type == "list" and dv.showErrorMessage
        source = "ABCDE"[index - 1]
        values = [c.value for c in ref[source][1:] if c.value]
        assert ref[f"{source}1"].value == column
        assert dv.formula1 == f"'选项'!${source}$2:${source}${len(values) + 1}"
        if column in expected:
            assert len(values) == expected[column], column
    assert {c.value for c in ref["A"][1:] if c.value} == prefectures
    assert [c.value for c in ref["E"][1:4]] == ["续聘", "新聘", "其他"]
    assert len(validations) == len(DROPDOWN_COLUMNS)
    id_col = header.index("身份证号") + 1
    assert ws.cell(row=2, column=id_col).number_format == "@"  # 18 digits stay text in Excel


def test_template_filled_in_imports(app):
    """The template, filled in as a person would (row 2 on), imports as it is."""
    client = app.test_client()
    login_staff(client)
    wb = load_workbook(io.BytesIO(client.get("/experts/import/template").data))
    ws = wb["专家信息"]
    header = [c.value for c in ws[1]]
    row = dict(zip(HEADER, good_row("模板填写")))
    for column, value in row.items():
        ws.cell(row=2, column=header.index(column) + 1, value=value)
    out = io.BytesIO()
    wb.save(out)
    report = run_import(app, out.getvalue())
    assert (report.created, report.failed) == (1, 0), report.rows
    assert [r.outcome for r in report.rows] == ["导入成功"]


def test_every_row_reported_with_each_columns_reason(app):
    good = good_row("报告好")
    several = good_row("多处错")
    several[2], several[3], several[6] = "123", "火星市", "宇航员"
    report = run_import(app, workbook([good, several, ["", "", "", "", "", "", "", ""], good]))
    assert [(r.row, r.outcome) for r in report.rows] == [(2, "导入成功"), (3, "错误"), (5, "错误")]
    reason = report.rows[1].reason
    assert "手机号码：" in reason and "所在市州：“火星市”" in reason and "职称：“宇航员”" in reason
    assert reason.count("；") == 2
    assert report.rows[0].account.startswith("baohaohao") is False  # the pinyin of 报告好
    assert report.rows[0].account.startswith("baogaohao")
    again = run_import(app, workbook([good]))
    assert [(r.outcome, r.reason) for r in again.rows] == [("已存在", "该身份证号的专家已在库，未作更改")]
    assert again.rows[0].account == report.rows[0].account


ACCOUNT_HEADER = HEADER + ["账号"]


def test_account_column_keeps_the_registered_account(app):
    from app.extensions import db
    from app.models import Expert

    kept = good_row("原账号") + ["Yuan.ZhangHao_1"]
    generated = good_row("无账号") + [""]
    own_phone = good_row("手机账号")
    own_phone.append(own_phone[2])
    report = run_import(app, workbook([kept, generated, own_phone], header=ACCOUNT_HEADER))
    assert report.failed == 0, report.errors
    accounts = [r.account for r in report.rows]
    assert accounts[0] == "yuan.zhanghao_1"  # matched without case at login, stored lower
    assert accounts[1].startswith("wuzhanghao")
    assert accounts[2] == own_phone[2]
    with app.app_context():
        expert = db.session.query(Expert).filter_by(id_number=kept[1]).one()
        assert expert.user.username == "yuan.zhanghao_1" and expert.user.must_change_password
        assert expert.user.email == "yuan.zhanghao_1@expert.invalid"
        db.session.remove()


def test_account_column_refusals_in_chinese(app):
    taken = good_row("占用") + ["testreviewer"]  # a staff account
    taken_case = good_row("大小写") + ["TestAdmin"]
    bad = good_row("坏账号") + ["张三!"]
    first = good_row("同账号甲") + ["samename"]
    second = good_row("同账号乙") + ["samename"]
    phone_like = good_row("他人手机") + ["13912345678"]
    report = run_import(app, workbook([taken, taken_case, bad, first, second, phone_like],
                                      header=ACCOUNT_HEADER))
    reasons = {r.row: r.reason for r in report.rows}
    assert "账号：“testreviewer”已被其他用户使用" in reasons[2]
    assert "已被其他用户使用" in reasons[3]
    assert "账号：账号只能包含小写字母、数字" in reasons[4]
    assert report.rows[3].outcome == "导入成功" and "账号：与第5行重复" in reasons[6]
    assert "账号：形如手机号码的账号须是本人的手机号码" in reasons[7]
    assert report.created == 1


def test_report_of_an_older_import_still_shows(app):
    from app.models import BatchStatus, ImportBatch
    from app.services.importer import report_of

    batch = ImportBatch(sha256="0" * 64, created=1, unchanged=0, failed=1,
                        status=BatchStatus.DONE.value, report='[[3, "旧", "手机号码格式不正确"]]')
    report = report_of(batch)
    assert [(r.row, r.outcome, r.reason) for r in report.rows] == [(3, "错误", "手机号码格式不正确")]
    assert report.failed == 1


@pytest.mark.commits  # the job runs in a session of its own and the page polls from another
def test_300_rows_answer_at_once_and_import_in_the_background(app, monkeypatch):
    import time

    from app.extensions import db
    from app.models import ImportBatch
    from app.services import importer, jobs, unit_of_work

    sent = []
    monkeypatch.setattr(jobs.celery, "send_task", lambda name, args, **kw: sent.append((name, args)))
    client = app.test_client()
    login_staff(client)
    rows = [good_row("批量" + "".join("零一二三四五六七八九"[int(d)] for d in f"{i:03d}"))
            for i in range(300)]
    rows[7][2] = "12"  # one bad row among them
    content = workbook(rows)
    started = time.monotonic()
    resp = client.post("/experts/import/", data={"file": (io.BytesIO(content), "三百人.xlsx")},
                       content_type="multipart/form-data")
    assert time.monotonic() - started < 1.0  # the person sees the import's page at once
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"])
    assert 'id="import-bar"' in page.get_data(as_text=True) and "import.js" in page.get_data(as_text=True)
    ((name, (batch_id, key)),) = sent
    assert name == importer.TASK_IMPORT
    status_url = f"/experts/import/batch/{batch_id}/status"
    assert client.get(status_url).json == {
        "percent": 0, "done": 0, "total": 0, "status": "排队中", "finished": False,
        "created": 0, "unchanged": 0, "failed": 0, "message": ""}
    assert client.get(f"/experts/import/batch/{batch_id}/report.xlsx").status_code == 404

    seen = []  # what the page's polling sees while the worker runs
    commit = unit_of_work.commit

    def commit_and_poll(session):
        commit(session)
        seen.append(client.get(status_url).json["done"])

    monkeypatch.setattr(unit_of_work, "commit", commit_and_poll)
    with app.app_context():
        created = jobs.run(importer.TASK_IMPORT, batch_id, key)
    assert created == 299
    progress = [d for d in seen if 0 < d < 300]
    assert len(progress) >= 5 and progress == sorted(progress)  # the bar moves
    state = client.get(status_url).json
    assert state["finished"] and state["percent"] == 100 and state["status"] == "已完成"
    assert (state["created"], state["failed"]) == (299, 1)
    text = page_text(client.get(f"/experts/import/batch/{batch_id}"))
    assert "新增 299 人" in text and "第9行" in text and "下载导入结果" in text

    resp = client.get(f"/experts/import/batch/{batch_id}/report.xlsx")
    assert resp.status_code == 200
    sheet = load_workbook(io.BytesIO(resp.data))["导入结果"]
    table = [[c.value for c in r] for r in sheet.iter_rows()]
    assert table[0] == ["行号", "姓名", "结果", "原因", "账号"] and len(table) == 301
    assert table[8][:3] == [9, "批量零零七", "错误"] and "手机号码" in table[8][3]
    assert table[1][2] == "导入成功" and table[1][4]
    with app.app_context():
        assert db.session.get(ImportBatch, batch_id).created == 299
        db.session.remove()


def test_import_status_and_report_are_staff_only(app, make_expert):
    from tests.conftest import login_expert

    for url in ("/experts/import/batch/1/status", "/experts/import/batch/1/report.xlsx",
                "/experts/import/batch/1"):
        anonymous = app.test_client().get(url)
        assert anonymous.status_code in (302, 401, 403), url
        if anonymous.status_code == 302:
            assert "/login" in anonymous.headers["Location"]
        client = app.test_client()
        login_expert(client, make_expert())
        assert client.get(url).status_code == 403, url
    staff = app.test_client()
    login_staff(staff)
    assert staff.get("/experts/import/batch/999999/status").status_code == 404
