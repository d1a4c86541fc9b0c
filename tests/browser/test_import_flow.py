"""Issue 13 "Import" in a browser: staff download the 导入模板 (its dropdowns), fill in 300
experts as they would in Excel, upload them through the screen and watch the progress bar
move while the import runs in the background, then read and download the per-row report;
then they import a question bank for a round's courses (a wrong row first: nothing saved)."""
import datetime as dt
import os
import threading
import time

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.conftest import STAFF_PASSWORD, unique_identity

pytestmark = pytest.mark.browser


@pytest.fixture
def worker_thread(app, monkeypatch):
    """The Celery worker, played by a thread: the task the screen sends runs beside the live
    server, in its own session, committing its progress as on the worker."""
    from app.services import jobs

    threads = []

    def send_task(name, args, **kwargs):
        def work():
            with app.app_context():
                jobs.run(name, *args)
        thread = threading.Thread(target=work, daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(jobs.celery, "send_task", send_task)
    yield threads
    for thread in threads:
        thread.join(timeout=120)


def staff_login(page, live_server) -> None:
    page.goto(f"{live_server}/login/?login_kind=staff")
    page.fill("#username", "testreviewer")
    page.fill("#password", STAFF_PASSWORD)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)


def cn(n: int) -> str:
    return "".join("零一二三四五六七八九"[int(d)] for d in f"{n:03d}")


def download(page, selector: str, folder):
    """Click and keep the file under the name the browser offers (openpyxl reads by suffix)."""
    with page.expect_download() as info:
        page.click(selector)
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def test_staff_import_300_experts_then_a_question_bank(page, live_server, app, tmp_path,
                                                       worker_thread):
    staff_login(page, live_server)
    page.click("a.dropdown-toggle:has-text('专家库')")
    page.click(".dropdown-menu a:has-text('导入专家')")
    page.wait_for_url("**/experts/import/")
    shot(page, "h6-01-import-page")

    template = download(page, "#download-template", tmp_path)
    assert template.name == "专家导入模板.xlsx"
    wb = load_workbook(template)
    ws = wb["专家信息"]
    header = [c.value for c in ws[1]]
    assert {str(dv.sqref).split(":")[0][0] for dv in ws.data_validations.dataValidation} == {
        "ABCDEFGHIJKLMNO"[header.index(c)] for c in ("所在市州", "从事专业类别", "职称", "政治面貌",
                                                      "入库类型")}
    pick = {column: wb["选项"].cell(row=2, column=i).value
            for i, column in enumerate(["所在市州", "从事专业类别", "职称", "政治面貌"], start=1)}
    tag = os.getpid() % 1000
    for n in range(300):  # typed into the template's rows, values picked from its dropdowns
        id_number, phone = unique_identity()
        values = {"姓名": f"浏览导入{cn(n)}", "身份证号": id_number, "手机号码": phone,
                  "所在市州": pick["所在市州"], "工作单位": "新疆某建设集团有限公司",
                  "从事专业类别": pick["从事专业类别"], "职称": pick["职称"],
                  "入库批次": "2024年第一批", "政治面貌": pick["政治面貌"], "入库类型": "续聘"}
        if n == 0:
            values["账号"] = f"yuanzhanghao{tag}"  # the account the expert registered with
        if n == 41:
            values["手机号码"] = "1380013"  # a typo: that row is refused, the others imported
        for column, value in values.items():
            ws.cell(row=n + 2, column=header.index(column) + 1, value=value)
    filled = tmp_path / "三百位专家.xlsx"
    wb.save(filled)

    page.set_input_files("#file", str(filled))
    started = time.monotonic()
    page.click("button:has-text('开始导入')")
    page.wait_for_url("**/experts/import/batch/*")
    expect(page.locator("#import-bar")).to_be_visible()
    assert time.monotonic() - started < 3  # the page answers at once; the worker imports
    seen = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not page.locator("#import-report").count():
        try:
            seen.append(int(page.locator("#import-done").inner_text(timeout=1000)))
        except Exception:  # the page reloading with its report
            pass
        if len(seen) == 3:
            shot(page, "h6-02-import-progress")
        page.wait_for_timeout(150)
    moving = sorted({d for d in seen if 0 < d < 300})
    assert moving, seen  # the bar moved while the import ran
    expect(page.locator("#import-report")).to_contain_text("新增 299 人")
    expect(page.locator("#import-report")).to_contain_text("失败 1 行")
    assert page.inner_text("#import-bar") == "100%"
    bad = page.locator("#import-errors tr[data-row='43']")  # the refused rows come first
    expect(bad).to_contain_text("错误")
    expect(bad).to_contain_text("手机号码：")
    shot(page, "h6-03-import-report")
    page.click("#import-all summary")  # every row's result, unfolded
    expect(page.locator("#import-rows tr[data-row='2']")).to_contain_text(f"yuanzhanghao{tag}")
    expect(page.locator("#import-rows tr[data-row='3']")).to_contain_text("导入成功")

    report = download(page, "#import-report-download", tmp_path)
    rows = list(load_workbook(report)["导入结果"].iter_rows(values_only=True))
    assert rows[0] == ("行号", "姓名", "结果", "原因", "账号") and len(rows) == 301
    assert rows[42][:3] == (43, f"浏览导入{cn(41)}", "错误")

    # ---- 导入题库 for a round's courses (the round made as staff make one in test_round_admin_flow)
    round_name = f"题库浏览器批次{os.getpid()}"
    with app.app_context():
        from app.extensions import db
        from app.models import Course, Question, TrainingRound, utcnow

        now = utcnow()
        rnd = TrainingRound(name=round_name, admission_batches=f"无人批次{os.getpid()}",
                            enroll_start=now, enroll_end=now + dt.timedelta(days=30),
                            fee_fen=30000, makeup_fee_fen=10000, study_days=10, active=False)
        db.session.add_all([rnd, Course(round=rnd, name="招标投标法规", required_minutes=60),
                            Course(round=rnd, name="评标职业道德", required_minutes=60)])
        db.session.commit()
        round_id = rnd.id
        db.session.remove()

    page.click("a.dropdown-toggle:has-text('继续教育管理')")
    page.click(".dropdown-menu a:has-text('导入题库')")
    page.wait_for_url("**/questions/import/")
    page.select_option("#template-round", label=round_name)
    qwb = load_workbook(download(page, "#download-question-template", tmp_path))
    qws = qwb["题库"]
    assert [c.value for c in qwb["选项"]["B"][1:3]] == ["招标投标法规", "评标职业道德"]
    kinds = ["单选", "多选", "判断", "简答"]
    for n in range(40):
        kind = kinds[n % 4]
        options = ["招标人", "投标人", "评标委员会", "监督部门"] if kind in ("单选", "多选") else []
        answer = {"单选": "A", "多选": "ABC", "判断": "对", "简答": "参考答案要点"}[kind]
        course = "招标投标法规" if n < 30 else "评标职业道德"
        qws.append([kind, f"第{n + 1}题：关于评标的{kind}题", *options, *[""] * (6 - len(options)),
                    answer, course])
    qws.cell(row=6, column=9, value="E")  # row 6 (a 单选): 答案 E is not among its options
    qfile = tmp_path / "题库.xlsx"
    qwb.save(qfile)
    page.select_option("#round_id", label=round_name)
    page.set_input_files("#file", str(qfile))
    page.click("button:has-text('检查并导入')")
    expect(page.locator("#question-import-report")).to_contain_text("本次未导入任何题目")
    expect(page.locator("#question-import-errors tr[data-row='6']")).to_contain_text(
        "答案：“E”不在已填写的选项中")
    shot(page, "h6-04-question-import-errors")

    qws.cell(row=6, column=9, value="B")  # corrected in Excel, uploaded again
    qwb.save(qfile)
    page.select_option("#round_id", label=round_name)
    page.set_input_files("#file", str(qfile))
    page.click("button:has-text('检查并导入')")
    expect(page.locator("#question-import-report")).to_contain_text("已导入 40 题")
    shot(page, "h6-05-question-import-done")
    with app.app_context():
        count = db.session.query(Question).join(Course).filter(Course.round_id == round_id).count()
        db.session.remove()
    assert count == 40
