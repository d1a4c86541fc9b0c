"""导入题库: the template's dropdowns; a correct file saves every question as the 题库
screen stores them; any wrong row saves nothing and every wrong row is reported in Chinese."""
import datetime as dt
import io
import time

import pytest
from openpyxl import Workbook, load_workbook

from app.services.question_import import COLUMNS
from tests.conftest import login_staff, page_text


@pytest.fixture
def training_round(app):
    from app.extensions import db
    from app.models import Course, Question, TrainingRound, utcnow

    with app.app_context():
        now = utcnow()
        rnd = TrainingRound(name="题库导入批次", admission_batches="",
                            enroll_start=now - dt.timedelta(days=1),
                            enroll_end=now + dt.timedelta(days=30), fee_fen=30000,
                            makeup_fee_fen=10000, open_delay_days=2, study_days=10)
        db.session.add(rnd)
        law = Course(round=rnd, name="招标投标法", required_minutes=60)
        ethics = Course(round=rnd, name="职业道德", required_minutes=60)
        db.session.add_all([law, ethics])
        db.session.flush()
        db.session.add(Question(course=law, kind="判断", text="已在题库中的题目。", answer="对"))
        db.session.commit()
        ids = rnd.id, law.id, ethics.id
        db.session.remove()
    return ids


def workbook(rows, header=COLUMNS) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def row(kind, text, options=(), answer="", course="招标投标法"):
    options = list(options) + [""] * (6 - len(options))
    return [kind, text, *options, answer, course]


GOOD = [
    row("单选", "中标通知书由谁发出？", ["招标人", "投标人", "评标委员会"], "a"),
    row("多选", "评标专家应当遵守哪些规定？", ["客观公正", "保守秘密", "收受礼金", "回避"], "A, B、D"),
    row("判断", "评标专家可以私下接触投标人。", answer="错"),
    row("判断", "评标应当遵循公平原则。", answer="正确"),
    row("简答", "简述应当回避的情形。", answer="与投标人有利害关系", course="职业道德"),
]


def post(client, round_id, content, name="题库.xlsx"):
    return client.post("/questions/import/", data={
        "round_id": str(round_id), "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data")


def questions(app, course_ids):
    from app.extensions import db
    from app.models import Question

    with app.app_context():
        found = [(q.kind, q.text, q.options, q.answer) for q in db.session.query(Question)
                 .filter(Question.course_id.in_(course_ids)).order_by(Question.id)]
        db.session.remove()
    return found


def test_template_dropdowns_for_kinds_and_the_rounds_courses(app, training_round):
    round_id, *_ = training_round
    client = app.test_client()
    login_staff(client)
    resp = client.get(f"/questions/import/template?round_id={round_id}")
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    ws, ref = wb["题库"], wb["选项"]
    assert [c.value for c in ws[1]] == COLUMNS
    assert COLUMNS == ["题型", "题干", "选项A", "选项B", "选项C", "选项D", "选项E", "选项F", "答案",
                       "所属课程"]
    assert ref.sheet_state == "hidden" and all(c.comment for c in ws[1])
    by_target = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
    assert by_target["A2:A1001"].formula1 == "'选项'!$A$2:$A$5"
    assert [c.value for c in ref["A"][1:5]] == ["单选", "多选", "判断", "简答"]
    assert by_target["J2:J1001"].formula1 == "'选项'!$B$2:$B$3"
    assert [c.value for c in ref["B"][1:3]] == ["招标投标法", "职业道德"]
    assert client.get("/questions/import/template").status_code == 200  # no round: kinds only


def test_good_file_saves_every_question(app, training_round):
    round_id, law, ethics = training_round
    client = app.test_client()
    login_staff(client)
    resp = post(client, round_id, workbook(GOOD))
    assert "已导入 5 题" in page_text(resp)
    saved = questions(app, [law, ethics])[1:]
    assert saved == [
        ("单选", "中标通知书由谁发出？", "A. 招标人\nB. 投标人\nC. 评标委员会", "A"),
        ("多选", "评标专家应当遵守哪些规定？", "A. 客观公正\nB. 保守秘密\nC. 收受礼金\nD. 回避", "ABD"),
        ("判断", "评标专家可以私下接触投标人。", None, "错"),
        ("判断", "评标应当遵循公平原则。", None, "对"),
        ("简答", "简述应当回避的情形。", None, "与投标人有利害关系"),
    ]


def test_one_wrong_row_saves_nothing_and_every_wrong_row_is_reported(app, training_round):
    round_id, law, ethics = training_round
    rows = GOOD + [
        row("单选", "没有答案的题？", ["甲", "乙"]),                          # 7
        row("单选", "答案不在选项中？", ["甲", "乙"], "C"),                    # 8
        row("单选", "课程不存在？", ["甲", "乙"], "A", course="不存在的课"),    # 9
        row("单选", "中标通知书由谁发出？", ["甲", "乙"], "A"),                # 10: as row 2
        row("判断", "已在题库中的题目。", answer="对"),                        # 11: in the bank
        row("多选", "多选只有一个答案？", ["甲", "乙", "丙"], "B"),            # 12
        row("单选", "选项空缺？", ["甲", "", "丙"], "A"),                      # 13
        row("填空", "未知题型？", answer="x"),                                 # 14
        row("判断", "判断答案不对？", answer="也许"),                          # 15
        row("简答", "", answer="参考"),                                        # 16
        row("单选", "单选两个答案？", ["甲", "乙"], "AB"),                     # 17
    ]
    client = app.test_client()
    login_staff(client)
    resp = post(client, round_id, workbook(rows))
    text = page_text(resp)
    assert "共检查 16 行，其中 11 行有错，本次未导入任何题目" in text
    assert len(questions(app, [law, ethics])) == 1  # only the question already there
    html = resp.get_data(as_text=True)
    expected = {
        7: "答案：请填写答案", 8: "答案：“C”不在已填写的选项中",
        9: "所属课程：“不存在的课”不是题库导入批次的课程", 10: "题干：与第2行重复（同一课程）",
        11: "题干：该课程的题库中已有相同题目", 12: "答案：多选题答案至少两个选项",
        13: "选项B：选项须从A起连续填写", 14: "题型：“填空”应为 单选、多选、判断 或 简答",
        15: "答案：“也许”判断题答案应为 对 或 错", 16: "题干：请填写题干",
        17: "答案：单选题只能有一个答案",
    }
    for row_no, reason in expected.items():
        assert f'data-row="{row_no}"' in html and reason in text, (row_no, reason)
    assert 'data-row="2"' not in html  # the good rows are not listed


def test_file_errors(app, training_round):
    round_id, *_ = training_round
    client = app.test_client()
    login_staff(client)
    assert "无法读取该文件" in page_text(post(client, round_id, b"not a workbook"))
    assert "缺少列：答案" in page_text(post(client, round_id, workbook([], header=COLUMNS[:-2])))
    assert "文件中没有题目" in page_text(post(client, round_id, workbook([])))
    assert "请上传 Excel 文件" in page_text(post(client, round_id, b"x", name="题库.csv"))
    assert "请选择培训批次" in page_text(post(client, 999999, workbook(GOOD)))


def test_hundreds_of_rows_at_once(app, training_round):
    round_id, law, ethics = training_round
    rows = [row("单选", f"第{i}题：评标专家的职责是什么？", ["甲", "乙", "丙", "丁"], "ABCD"[i % 4])
            for i in range(600)]
    client = app.test_client()
    login_staff(client)
    started = time.monotonic()
    resp = post(client, round_id, workbook(rows))
    assert time.monotonic() - started < 5
    assert "已导入 600 题" in page_text(resp)
    assert len(questions(app, [law])) == 601


def test_imported_questions_grade_like_typed_ones(app, training_round):
    from app.services.exam import _normalise

    round_id, law, _ = training_round
    client = app.test_client()
    login_staff(client)
    post(client, round_id, workbook(GOOD[:2]))
    saved = {text: answer for kind, text, _, answer in questions(app, [law])}
    assert _normalise("多选", "D,B,A") == _normalise("多选", saved["评标专家应当遵守哪些规定？"])


def test_question_import_is_staff_only(app, make_expert):
    from tests.conftest import login_expert

    for url in ("/questions/import/", "/questions/import/template"):
        anonymous = app.test_client().get(url)
        assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
        client = app.test_client()
        login_expert(client, make_expert())
        assert client.get(url).status_code == 403
        assert client.post(url).status_code in (403, 405)
    staff = app.test_client()
    login_staff(staff)
    page = staff.get("/questions/import/")
    assert page.status_code == 200 and "导入题库" in page_text(page)
    assert 'href="/questions/import/"' in page.get_data(as_text=True)  # 继续教育管理 → 导入题库
