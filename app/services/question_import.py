"""导入题库: the questions of a training round's courses from an xlsx file.

All or nothing: the file is checked row by row first and, if any row is wrong, nothing is
saved and every wrong row is reported (Excel row number, the column, the reason in
Chinese); staff correct the file and upload it again. A correct file is saved at once
(hundreds of rows: one query per check, one flush). A question's 分值 is not in the file:
scores are set per 题型 in the course's 试卷规则.

Stored as the 题库 screen stores them (Question): ``options`` one per line "A. …",
``answer`` the letters ("B", "ACD"), 对 / 错, or the reference answer of a 简答.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from openpyxl import load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Course, Question, TrainingRound
from app.services import audit
from app.services.audit import Action
from app.services.exam import KINDS, SHORT
from app.services.export import xlsx

SINGLE, MULTI, JUDGE = "单选", "多选", "判断"
QUESTION_KINDS = [kind for kind, _ in KINDS]
OPTION_LETTERS = "ABCDEF"
OPTION_COLUMNS = [f"选项{letter}" for letter in OPTION_LETTERS]
COLUMNS = ["题型", "题干", *OPTION_COLUMNS, "答案", "所属课程"]
REQUIRED = ("题型", "题干", "答案", "所属课程")
NOTES = {
    "题型": "必填：单选 / 多选 / 判断 / 简答（下拉选择）",
    "题干": "必填：题目内容；同一课程内不可重复",
    "选项A": "单选、多选题必填：选项内容，不写字母；至少两个选项，从A起连续填写",
    "答案": "必填：单选如 B；多选如 ACD（至少两个）；判断填 对 或 错；简答填参考答案",
    "所属课程": "必填：本培训批次的课程名称（下拉选择）",
}
# what staff type for 对 / 错 in a 判断 question
JUDGE_ANSWERS = {"对": "对", "正确": "对", "√": "对", "是": "对", "T": "对", "TRUE": "对",
                 "错": "错", "错误": "错", "×": "错", "否": "错", "F": "错", "FALSE": "错"}
TEXT_MAX = 2000
OPTION_MAX = 500
ANSWER_MAX = 200  # Question.answer
TEMPLATE_ROWS = 1000
REFERENCE_SHEET = "选项"
_LETTER_SEPARATORS = re.compile(r"[\s,，、;；]+")


@dataclass
class QuestionRowError:
    row: int
    text: str
    reason: str


@dataclass
class QuestionImportReport:
    saved: int = 0
    checked: int = 0
    errors: list[QuestionRowError] = field(default_factory=list)
    file_error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and not self.file_error


def round_courses(session: Session, training_round: TrainingRound) -> list[Course]:
    return list(session.execute(select(Course).where(Course.round_id == training_round.id)
                                .order_by(Course.sort, Course.id)).scalars())


def template_workbook(session: Session, training_round: TrainingRound | None) -> bytes:
    """导入模板: the columns with notes, dropdowns for 题型 and (for a round) its courses,
    an example of each kind on the 填写说明 sheet. Every cell's value is written by
    export.xlsx (text as text); added here after: fonts, comments, widths, the dropdowns."""
    courses = [c.name for c in round_courses(session, training_round)] if training_round else []
    lists = {"题型": QUESTION_KINDS, "所属课程": list(dict.fromkeys(courses))}
    reference = [[lists["题型"][i] if i < len(lists["题型"]) else None,
                  lists["所属课程"][i] if i < len(lists["所属课程"]) else None]
                 for i in range(max(len(v) for v in lists.values()))]
    note = {c: NOTES.get(c) or ("选填：选项内容" if c in OPTION_COLUMNS else "") for c in COLUMNS}
    course = courses[0] if courses else "课程名称"
    examples = [
        ["单选", "招标人应当在什么期限内确定中标人？", "投标有效期内", "开标后三日内", "评标结束当日", "",
         "A"],
        ["多选", "下列哪些属于评标专家的义务？", "客观公正", "保守秘密", "接受投标人宴请", "遵守回避规定",
         "ABD"],
        ["判断", "评标专家可以私下接触投标人。", "", "", "", "", "错"],
        ["简答", "简述评标专家应当回避的情形。", "", "", "", "", "与投标人有利害关系等"]]
    help_rows = [[c, note[c]] for c in COLUMNS] + [[None, None], [
        "示例", "题型", "题干", "选项A", "选项B", "选项C", "选项D", "答案", "所属课程"]]
    help_rows += [[None, *example, course] for example in examples]
    help_rows += [[None, None], ["说明", "整个文件检查无误后才会导入；任何一行有错时都不导入，"
                                 "请按提示改正后重新上传。分值在试卷规则中按题型设置。"]]
    content = xlsx([("题库", COLUMNS, []), (REFERENCE_SHEET, list(lists), reference),
                    ("填写说明", ["列名", "说明"], help_rows)])
    wb = load_workbook(io.BytesIO(content))
    ws = wb["题库"]
    wb[REFERENCE_SHEET].sheet_state = "hidden"
    red = Font(bold=True, color="C00000")
    for index, column in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=1, column=index)
        if column in REQUIRED:
            cell.font = red
        cell.comment = Comment(note[column], "评标专家管理系统", width=240, height=90)
        ws.column_dimensions[get_column_letter(index)].width = 40 if column == "题干" else 16
    ws.freeze_panes = "A2"
    for index, (column, values) in enumerate(lists.items(), start=1):
        if not values:
            continue
        source = get_column_letter(index)
        validation = DataValidation(
            type="list", formula1=f"'{REFERENCE_SHEET}'!${source}$2:${source}${len(values) + 1}",
            allow_blank=True, showErrorMessage=True, errorTitle="请从列表中选择",
            error=f"{column}请从下拉列表中选择")
        target = get_column_letter(COLUMNS.index(column) + 1)
        validation.add(f"{target}2:{target}{TEMPLATE_ROWS + 1}")
        ws.add_data_validation(validation)
    wb["填写说明"].column_dimensions["B"].width = 60
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "对" if value else "错"  # Excel's TRUE / FALSE typed in a 判断 row
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _answer_letters(typed: str) -> str:
    return _LETTER_SEPARATORS.sub("", typed).upper()


def _check_row(values: dict[str, str]) -> tuple[list[str], str, str, str]:
    """Reasons (列名：原因), the options text, the answer as stored and the kind."""
    reasons: list[str] = []
    kind = values["题型"]
    if not kind:
        reasons.append("题型：请填写题型")
    elif kind not in QUESTION_KINDS:
        reasons.append(f"题型：“{kind}”应为 单选、多选、判断 或 简答")
    text = values["题干"]
    if not text:
        reasons.append("题干：请填写题干")
    elif len(text) > TEXT_MAX:
        reasons.append(f"题干：不能超过{TEXT_MAX}字")
    typed = values["答案"]
    answer = typed
    options_text = ""
    if kind in (SINGLE, MULTI):
        filled = [(letter, values[f"选项{letter}"]) for letter in OPTION_LETTERS]
        last = max((i for i, (_, v) in enumerate(filled) if v), default=-1)
        gaps = [letter for letter, v in filled[:last + 1] if not v]
        if gaps:
            reasons.append(f"选项{gaps[0]}：选项须从A起连续填写，选项{gaps[0]}不能空缺")
        given = [(letter, v) for letter, v in filled if v]
        if len(given) < 2:
            reasons.append("选项：单选、多选题至少填写两个选项（选项A、选项B）")
        for letter, v in given:
            if len(v) > OPTION_MAX:
                reasons.append(f"选项{letter}：不能超过{OPTION_MAX}字")
        options_text = "\n".join(f"{letter}. {v}" for letter, v in given)
        letters = _answer_letters(typed)
        if not letters:
            reasons.append("答案：请填写答案")
        else:
            offered = {letter for letter, _ in given}
            outside = [c for c in dict.fromkeys(letters) if c not in offered]
            if outside:
                reasons.append(f"答案：“{''.join(outside)}”不在已填写的选项中")
            elif kind == SINGLE and len(set(letters)) != 1:
                reasons.append("答案：单选题只能有一个答案，如 B")
            elif kind == MULTI and len(set(letters)) < 2:
                reasons.append("答案：多选题答案至少两个选项，如 ACD")
            answer = "".join(sorted(set(letters)))
    elif kind == JUDGE:
        answer = JUDGE_ANSWERS.get(typed.upper(), "")
        if not typed:
            reasons.append("答案：请填写答案（对 或 错）")
        elif not answer:
            reasons.append(f"答案：“{typed}”判断题答案应为 对 或 错")
    elif kind == SHORT:
        if not typed:
            reasons.append("答案：请填写参考答案")
        elif len(typed) > ANSWER_MAX:
            reasons.append(f"答案：参考答案不能超过{ANSWER_MAX}字")
    return reasons, options_text, answer, kind


def import_questions(session: Session, content: bytes, training_round: TrainingRound, *,
                     actor: audit.Actor, file_name: str = "") -> QuestionImportReport:
    """Checks every row; saves them all when none is wrong, else saves nothing. Flushes."""
    report = QuestionImportReport()
    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:
        report.file_error = "无法读取该文件，请使用导入模板（.xlsx 格式）"
        return report
    rows = wb.worksheets[0].iter_rows(values_only=True)
    header = [_cell(h) for h in next(rows, ())]
    missing = [c for c in (*REQUIRED, "选项A", "选项B") if c not in header]
    if missing:
        report.file_error = f"缺少列：{'、'.join(missing)}（请使用导入模板）"
        return report
    positions = {name: header.index(name) for name in COLUMNS if name in header}
    courses = {c.name: c for c in round_courses(session, training_round)}
    existing = {(course_id, text) for course_id, text in session.execute(
        select(Question.course_id, Question.text).where(
            Question.course_id.in_([c.id for c in courses.values()]))) if text}
    seen: dict[tuple[int, str], int] = {}
    new: list[Question] = []
    for offset, raw in enumerate(rows):
        row_no = offset + 2
        values = {name: "" for name in COLUMNS}
        values.update({name: _cell(raw[i]) if i < len(raw) else ""
                       for name, i in positions.items()})
        if not any(values.values()):
            continue
        report.checked += 1
        reasons, options_text, answer, kind = _check_row(values)
        course = None
        if not values["所属课程"]:
            reasons.append("所属课程：请填写所属课程")
        else:
            course = courses.get(values["所属课程"])
            if course is None:
                reasons.append(f"所属课程：“{values['所属课程']}”不是{training_round.name}的课程")
        if course is not None and values["题干"]:
            key = (course.id, values["题干"])
            if key in seen:
                reasons.append(f"题干：与第{seen[key]}行重复（同一课程）")
            elif key in existing:
                reasons.append("题干：该课程的题库中已有相同题目")
            seen.setdefault(key, row_no)
        if reasons:
            report.errors.append(QuestionRowError(row_no, values["题干"][:40], "；".join(reasons)))
            continue
        new.append(Question(course_id=course.id, kind=kind, text=values["题干"],
                            options=options_text or None, answer=answer))
    if report.checked == 0 and not report.errors:
        report.file_error = "文件中没有题目（第2行起填写）"
        return report
    if report.errors:
        return report  # all or nothing: the file comes back to be corrected
    session.add_all(new)
    session.flush()
    report.saved = len(new)
    audit.record(session, Action.IMPORT, actor=actor, object_type="题库",
                 object_id=training_round.id,
                 detail=f"{file_name}：{training_round.name} 导入{report.saved}题")
    return report

