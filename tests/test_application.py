"""专家入库申请 end to end through the test client, its rules, its PDF and its review."""
import datetime as dt
import io
import re

import pytest
from PIL import Image

from app.models import ExpertStatus
from app.services.application import RuleSettings, next_expert_no, rule_flags, work_years
from tests.conftest import login_expert, login_staff, page_text
from tests.test_uploads import pdf, png


def ids(app, model, **filters):
    from app.extensions import db

    with app.app_context():
        rows = db.session.query(model).filter_by(**filters).all()
        out = [r.id for r in rows]
        db.session.remove()
    return out


def ref(app, model_name, name):
    from app import models

    return str(ids(app, getattr(models, model_name), name=name)[0])


def step1_data(app, account, **overrides):
    data = {
        "b_political_status": ref(app, "PoliticalStatus", "群众"),
        "b_prefecture": ref(app, "Prefecture", "哈密市"), "b_address": "乌鲁木齐市天山区某路1号",
        "b_email": "zhuanjia@163.com", "b_phone": account.phone, "b_backup_phone": "13700001111",
        "b_accepts_remote": "1", "b_emergency_expert": "0",
        "b_employer": "想换的单位", "b_main_specialty": ref(app, "Specialty", "建筑结构"),
        "b_title": ref(app, "Title", "高级工程师"),
        "b_photo_file__upload": (io.BytesIO(png()), "一寸照.png"),
        "b_id_front_file__upload": (io.BytesIO(png()), "身份证正面.png"),
        "b_id_back_file__upload": (io.BytesIO(png()), "身份证反面.png"),
        "b_title_cert_file__upload": (io.BytesIO(pdf()), "职称证书.pdf"),
        "educations-count": "1",
        "educations-0-education_level": ref(app, "EducationLevel", "大学本科"),
        "educations-0-degree": ref(app, "Degree", "学士"),
        "educations-0-school": "新疆大学", "educations-0-major": "土木工程",
        "educations-0-start_date": "1998-09-01", "educations-0-end_date": "2002-07-01",
        "educations-0-proof_file__upload": (io.BytesIO(pdf()), "学历证明.pdf"),
        "work_experiences-count": "1", "work_experiences-0-start_date": "2002-07-15",
        "work_experiences-0-end_date": "", "work_experiences-0-employer": "新疆建工集团",
        "work_experiences-0-position": "总工程师", "work_experiences-0-referee": "王工",
        "qualifications-count": "1", "qualifications-0-name": "一级注册建造师",
        "qualifications-0-is_registered": "1", "qualifications-0-certificate_no": "新165000",
        "qualifications-0-issue_date": "2010-05-01",
        "action": "next",
    }
    data.update(overrides)
    return data


def assert_cjk_font_embedded(reader) -> None:
    """Every font of the PDF is embedded, and one is the CJK font."""
    fonts = []
    for p in reader.pages:
        for font in p["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"].get_object()
            fonts.append((font["/BaseFont"], any(k in descriptor for k in
                                                 ("/FontFile", "/FontFile2", "/FontFile3"))))
    assert fonts and all(embedded for _, embedded in fonts)
    assert any("CJK" in str(name) for name, _ in fonts)


def post(client, number, data):
    return client.post(f"/application/step/{number}", data=data, content_type="multipart/form-data")


def fill_and_submit(app, client, account):
    resp = post(client, 1, step1_data(app, account))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/application/step/2"), \
        re.findall(r'data-error-for="([^"]+)">([^<]+)', resp.get_data(True))
    assert post(client, 2, {"admission_type": "续聘", "action": "next"}).status_code == 302
    signed = (io.BytesIO(pdf()), "申请表（已签字盖章）.pdf")
    resp = post(client, 3, {"action": "next", "signed_form__upload": signed})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/application/step/4")
    resp = post(client, 4, {"action": "submit"})
    assert resp.status_code == 302


def expert_row(app, expert_id):
    from app.extensions import db
    from app.models import Expert

    with app.app_context():
        e = db.session.get(Expert, expert_id)
        row = {"status": e.status, "expert_no": e.expert_no, "version": e.version,
               "prefecture": str(e.prefecture), "employer": e.employer,
               "specialty": e.main_specialty.name if e.main_specialty else None,
               "admission_type": e.admission_type,
               "educations": len(e.educations), "submitted_at": e.submitted_at}
        db.session.remove()
    return row


def test_save_invalid_data_and_resume_later(app, make_expert):
    account = make_expert("暂存者")
    client = app.test_client()
    login_expert(client, account)
    resp = post(client, 1, step1_data(app, account, action="save", b_email="not-an-email",
                                      b_address="半填的地址"))
    assert resp.status_code == 200 and "已暂存" in page_text(resp)
    # later, in another browser: what was typed is still there, even the invalid value
    later = app.test_client()
    login_expert(later, account)
    html = later.get("/application/step/1").get_data(True)
    assert 'value="not-an-email"' in html and 'value="半填的地址"' in html
    assert "已上传，点击查看" in html  # the files uploaded with 暂存 are kept
    # 下一步 checks: the message sits beside the field, in Chinese, and nothing is lost
    resp = post(later, 1, {**{k: v for k, v in step1_data(app, account).items()
                             if not k.endswith("__upload")}, "b_email": "not-an-email"})
    assert resp.status_code == 200
    errors = dict(re.findall(r'data-error-for="([^"]+)">([^<]+)', resp.get_data(True)))
    assert "电子邮箱格式不正确" in errors["b_email"]
    assert 'value="not-an-email"' in resp.get_data(True)


def test_required_fields_and_dates_are_checked(app, make_expert):
    account = make_expert("必填")
    client = app.test_client()
    login_expert(client, account)
    resp = post(client, 1, {"action": "next", "educations-count": "1",
                            "educations-0-start_date": "2005-01-01",
                            "educations-0-end_date": "2001-01-01",
                            "work_experiences-count": "0"})
    errors = dict(re.findall(r'data-error-for="([^"]+)">([^<]+)', resp.get_data(True)))
    assert errors["b_email"] == "请填写本人电子邮箱"
    assert errors["b_photo_file"] == "请上传一寸免冠照(近期照)"
    assert errors["educations-0-end_date"] == "开始时间不能晚于结束时间"
    assert errors["work_experiences"] == "请至少填写一条工作经历"
    future = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    resp = post(client, 1, {"action": "next", "educations-count": "1",
                            "educations-0-start_date": future})
    assert "不能晚于今天" in page_text(resp)


def test_rows_are_added_and_removed_without_javascript(app, make_expert):
    account = make_expert("加行")
    client = app.test_client()
    login_expert(client, account)
    resp = post(client, 1, {"action": "add:work_experiences", "work_experiences-count": "0"})
    assert resp.status_code == 302 and "#section-work_experiences" in resp.headers["Location"]
    html = client.get("/application/step/1").get_data(True)
    assert 'name="work_experiences-0-employer"' in html
    post(client, 1, {"action": "add:work_experiences", "work_experiences-count": "1",
                     "work_experiences-0-employer": "第一家"})
    html = client.get("/application/step/1").get_data(True)
    assert 'value="第一家"' in html and 'name="work_experiences-1-employer"' in html
    post(client, 1, {"action": "remove:work_experiences:0", "work_experiences-count": "2",
                     "work_experiences-0-employer": "第一家", "work_experiences-1-employer": "第二家"})
    html = client.get("/application/step/1").get_data(True)
    assert 'value="第二家"' in html and 'value="第一家"' not in html


def test_renewal_is_preselected_and_keeps_first_appointment(app, make_expert):
    account = make_expert("续聘者", employer="初次单位", prefecture="喀什地区")
    client = app.test_client()
    login_expert(client, account)
    html = client.get("/application/step/2").get_data(True)
    assert re.search(r'value="续聘"\s+checked', html)
    assert "2024年第一批、第二批经报名选聘入库专家在入库类型处，请选择【续聘】" in page_text(
        client.get("/application/step/2"))
    step1 = client.get("/application/step/1")
    assert "初次选聘入库时的地州、申报专业和所在单位" in page_text(step1)
    fill_and_submit(app, client, account)
    row = expert_row(app, account.expert_id)
    # posted 哈密市 / 想换的单位 / 建筑结构 were ignored: 续聘 keeps the first appointment
    assert row["prefecture"] == "喀什地区" and row["employer"] == "初次单位"
    assert row["specialty"] == "建筑工程（土建）"
    assert row["status"] == ExpertStatus.PENDING.value and row["submitted_at"]
    assert row["admission_type"] == "续聘" and row["educations"] == 1


def test_new_appointment_may_change_prefecture_and_employer(app, make_expert):
    account = make_expert("新聘者", employer="原单位")
    client = app.test_client()
    login_expert(client, account)
    post(client, 2, {"admission_type": "新聘", "action": "save"})
    resp = post(client, 1, step1_data(app, account))
    assert resp.status_code == 302
    row = expert_row(app, account.expert_id)
    assert row["prefecture"] == "哈密市" and row["employer"] == "想换的单位"


def test_step3_needs_the_signed_form_and_refuses_hostile_files(app, make_expert):
    account = make_expert("上传表")
    client = app.test_client()
    login_expert(client, account)
    resp = post(client, 3, {"action": "next"})
    assert "请上传签字盖章后的申请表" in page_text(resp)
    resp = post(client, 3, {"action": "next", "signed_form__upload": (io.BytesIO(b"<html>"), "表.pdf")})
    assert "文件类型不符" in page_text(resp)


def test_submitted_application_is_read_only(app, make_expert):
    account = make_expert("只读")
    client = app.test_client()
    login_expert(client, account)
    fill_and_submit(app, client, account)
    before = expert_row(app, account.expert_id)
    resp = post(client, 1, step1_data(app, account, b_address="偷偷改"))
    assert resp.status_code == 302
    assert "审核期间不能修改" in page_text(client.get(resp.headers["Location"]))
    assert expert_row(app, account.expert_id)["version"] == before["version"]
    assert "btn-next" not in client.get("/application/step/1").get_data(True)


def test_incomplete_application_cannot_be_submitted(app, make_expert):
    account = make_expert("不完整")
    client = app.test_client()
    login_expert(client, account)
    resp = post(client, 4, {"action": "submit"})
    assert resp.status_code == 302
    text = page_text(client.get("/application/step/4"))
    assert "上传申请表：请上传签字盖章的申请表" in text
    assert expert_row(app, account.expert_id)["status"] == ExpertStatus.DRAFT.value


# ---------------------------------------------------------------- the PDF

def test_application_pdf_text_fonts_and_qr(app, make_expert):
    from pypdf import PdfReader
    decode = pytest.importorskip("pyzbar.pyzbar", reason="libzbar0 missing: apt-get install libzbar0").decode

    account = make_expert("买买提·申请")
    client = app.test_client()
    login_expert(client, account)
    post(client, 1, step1_data(app, account, action="save"))
    post(client, 1, step1_data(app, account))
    resp = client.get("/application/form.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert "attachment" in resp.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(resp.data))
    page = reader.pages[0]
    assert page.mediabox.width == pytest.approx(595, abs=2)  # A4
    text = "".join(p.extract_text() for p in reader.pages)
    for words in ("评标专家入库申请表", "买买提·申请", account.id_number, "申请专家编号", "新疆大学",
                  "申请人签字", "所在单位意见（盖章）"):
        assert words in text, words
    assert_cjk_font_embedded(reader)
    # the QR code opens this application on the reviewers' screen; the photo is there too
    decoded = []
    images = [img.image for img in page.images]
    assert len(images) >= 2
    for image in images:
        decoded += [d.data.decode() for d in decode(image.convert("RGB").resize(
            (image.width * 2, image.height * 2), Image.NEAREST))]
    assert any(url.endswith(f"/review/{account.expert_id}") for url in decoded), decoded


def test_pdf_fetches_nothing_from_outside(app):
    from app.services.application_pdf import data_only_fetcher

    fetcher = data_only_fetcher()
    with pytest.raises(ValueError):
        fetcher.fetch("file:///etc/passwd")
    with pytest.raises(ValueError):
        fetcher.fetch("http://example.com/x.png")


# ---------------------------------------------------------------- review

def test_return_fix_resubmit_approve(app, make_expert):
    account = make_expert("审核流程")
    expert = app.test_client()
    login_expert(expert, account)
    fill_and_submit(app, expert, account)
    reviewer = app.test_client()
    login_staff(reviewer)
    queue = page_text(reviewer.get("/reviewqueueview/list/?_flt_0_name=审核流程"))
    assert "审核流程" in queue
    page = reviewer.get(f"/review/{account.expert_id}")
    html = page.get_data(True)
    assert "入库条件" in page_text(page) and "工作年限" in page_text(page)
    version = re.search(r'name="version" value="(\d+)"', html).group(1)
    assert "inline-pdf" in html  # the signed scan is viewable in the page

    resp = reviewer.post(f"/review/{account.expert_id}/decide", data={
        "action": "return", "opinion": "", "version": version})
    assert resp.status_code == 400 and "须填写审核意见" in page_text(resp)
    resp = reviewer.post(f"/review/{account.expert_id}/decide", data={
        "action": "return", "opinion": "请补充学历证明原件扫描件", "version": version,
        "opinion-educations": "学历证明不清晰"})
    assert resp.status_code == 302
    assert expert_row(app, account.expert_id)["status"] == ExpertStatus.RETURNED.value

    home = page_text(expert.get("/expert/"))
    assert "请补充学历证明原件扫描件" in home and "学历证明不清晰" in home and "已退回" in home
    # the expert fixes and submits again
    resp = post(expert, 1, step1_data(app, account, **{
        "educations-0-proof_file__upload": (io.BytesIO(pdf()), "学历证明（清晰）.pdf")}))
    assert resp.status_code == 302
    post(expert, 2, {"admission_type": "续聘", "action": "next"})
    post(expert, 3, {"action": "next"})  # the signed form uploaded before is kept
    assert post(expert, 4, {"action": "submit"}).status_code == 302
    assert expert_row(app, account.expert_id)["status"] == ExpertStatus.PENDING.value

    # a reviewer who opened the old version cannot approve it: told why, opinion kept
    resp = reviewer.post(f"/review/{account.expert_id}/decide", data={
        "action": "approve", "opinion": "同意入库", "version": version})
    assert resp.status_code == 409
    assert "修改了申请" in page_text(resp) and "同意入库" in resp.get_data(True)
    fresh = re.search(r'name="version" value="(\d+)"', resp.get_data(True)).group(1)
    resp = reviewer.post(f"/review/{account.expert_id}/decide", data={
        "action": "approve", "opinion": "同意入库", "version": fresh})
    assert resp.status_code == 302
    row = expert_row(app, account.expert_id)
    assert row["status"] == ExpertStatus.ADMITTED.value
    assert re.fullmatch(rf"XJ{dt.date.today().year}\d{{6}}", row["expert_no"])
    text = page_text(expert.get("/expert/"))
    assert row["expert_no"] in text and "继续教育" in text
    training = expert.get("/training/")
    assert training.status_code == 200 and row["expert_no"] in page_text(training)


def test_staff_downloads_generated_form(app, make_expert):
    account = make_expert("下载表")
    reviewer = app.test_client()
    login_staff(reviewer)
    resp = reviewer.get(f"/review/{account.expert_id}/form.pdf")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF")


def test_expert_cannot_review(app, make_expert):
    victim = make_expert("被审")
    account = make_expert("想自审")
    client = app.test_client()
    login_expert(client, account)
    assert client.get(f"/review/{victim.expert_id}").status_code == 403
    assert client.post(f"/review/{account.expert_id}/decide",
                       data={"action": "approve", "version": "1"}).status_code == 403
    assert client.get("/reviewqueueview/list/").status_code == 403


def test_training_entry_only_after_admission(app, make_expert):
    account = make_expert("未入库")
    client = app.test_client()
    login_expert(client, account)
    assert "btn-training" not in client.get("/expert/").get_data(True)
    assert client.get("/training/").status_code == 302


# ---------------------------------------------------------------- rules

class _L:
    def __init__(self, name, senior):
        self.name, self.senior = name, senior

    def __str__(self):
        return self.name


def _expert(birth, level, registered, spans):
    from app.models import Expert, Qualification, Title, WorkExperience

    e = Expert(birth_date=birth)
    e.title = Title(name="职称")
    e.title.level = _L(*level)
    e.qualifications = [Qualification(name="一级注册建造师", is_registered=registered)]
    e.work_experiences = [WorkExperience(start_date=s, end_date=t) for s, t in spans]
    return e


def test_rule_flags():
    on = dt.date(2025, 6, 1)
    spans = [(dt.date(2010, 1, 1), dt.date(2015, 1, 1)), (dt.date(2014, 1, 1), None)]
    ok = _expert(dt.date(1960, 1, 1), ("副高级", True), False, spans)
    assert [f.ok for f in rule_flags(ok, RuleSettings(), on)] == [True, True, True]
    assert work_years(ok, on) == pytest.approx(15.4, abs=0.1)  # overlap counted once
    old = _expert(dt.date(1950, 1, 1), ("中级", False), True, [(dt.date(2020, 1, 1), None)])
    flags = {f.rule: f.ok for f in rule_flags(old, RuleSettings(), on)}
    assert flags == {"年龄": False, "职称": True, "工作年限": False}
    junior = _expert(dt.date(1980, 1, 1), ("中级", False), False, spans)
    assert not {f.rule: f.ok for f in rule_flags(junior, RuleSettings(), on)}["职称"]
    assert {f.rule: f.ok for f in rule_flags(old, RuleSettings(max_age=80, min_work_years=5),
                                             on)} == {"年龄": True, "职称": True, "工作年限": True}


def test_expert_numbers_run_in_sequence_per_year(app, make_expert):
    from app.extensions import db
    from app.models import Expert

    a, b = make_expert("编号甲"), make_expert("编号乙")
    with app.app_context():
        first = next_expert_no(db.session, 2031)
        assert first == "XJ2031000001"
        db.session.get(Expert, a.expert_id).expert_no = first
        db.session.flush()
        assert next_expert_no(db.session, 2031) == "XJ2031000002"
        assert next_expert_no(db.session, 2032) == "XJ2032000001"
        db.session.rollback()
        db.session.remove()
    assert b


def test_another_experts_file_cannot_be_attached(app, make_expert):
    """A file id posted in a hidden field must be the expert's own upload."""
    from app.extensions import db
    from app.services import uploads

    victim = make_expert("文件主人")
    with app.app_context():
        stored = uploads.store(db.session, owner_id=victim.user_id, kind_name="photo",
                               filename="别人的照片.png", data=png(),
                               upload_dir=app.config["UPLOAD_FOLDER"])
        db.session.commit()
        victim_file = stored.id
        db.session.remove()
    account = make_expert("借文件")
    client = app.test_client()
    login_expert(client, account)
    data = {k: v for k, v in step1_data(app, account).items() if k != "b_photo_file__upload"}
    data["b_photo_file"] = str(victim_file)
    resp = post(client, 1, data)
    errors = dict(re.findall(r'data-error-for="([^"]+)">([^<]+)', resp.get_data(True)))
    assert errors["b_photo_file"] == "请重新上传一寸免冠照(近期照)"
    assert client.get(f"/files/{victim_file}").status_code == 404


def test_continuing_education_menu_only_after_admission(app, make_expert):
    draft = app.test_client()
    login_expert(draft, make_expert("菜单草稿"))
    assert "继续教育" not in page_text(draft.get("/expert/"))  # no menu, no button
    admitted = app.test_client()
    login_expert(admitted, make_expert("菜单入库", status=ExpertStatus.ADMITTED))
    assert "我的培训" in page_text(admitted.get("/expert/"))
    # the manual's path: 【继续教育】→【培训考试】→【我的培训】
    html = admitted.get("/expert/").get_data(True)
    assert re.search(r'dropdown-header">培训考试</li>\s*<li>\s*<a[^>]*href="/training/"', html)


def test_the_forms_list_the_rules_fields_in_their_order(app):
    """The wizard's table headers come from the service's sections and its cells from the
    row forms: both list the same fields, in the same order."""
    from app.services.application import BASIC, SECTIONS
    from app.views._forms import profile_form

    with app.test_request_context():
        form = profile_form({"basic": {}, "sections": {s.name: [{}] for s in SECTIONS}}, {})
        assert [f.short_name for f in form.basic_fields()] == [
            f.name for f in BASIC if f.name != "name"]
        for section, rows in form.sections():
            assert [f.short_name for f in rows[0].form] == [f.name for f in section.fields]
            assert [f.name for f in rows[0].form][0].startswith(f"{section.name}-0-")


def test_date_adapters_use_the_validators_rules(app):
    """Step 1's dates: format, not after today (Beijing's), start not after end."""
    import datetime as dt

    from app.models import beijing_today
    from app.views._forms import check_profile

    tomorrow = (beijing_today() + dt.timedelta(days=1)).isoformat()
    data = {"basic": {}, "sections": {"work_experiences": [
        {"start_date": "2005-01-01", "end_date": "2001-01-01"},
        {"start_date": "2001-3-x"},
        {"start_date": tomorrow}]}}
    with app.test_request_context():
        values, errors = check_profile(data, set(), {})
    assert errors["work_experiences-0-end_date"] == "开始时间不能晚于结束时间"
    assert errors["work_experiences-1-start_date"] == "日期格式应为 年-月-日，如 2001-03-01"
    assert errors["work_experiences-2-start_date"] == "开始时间不能晚于今天"
    assert values["sections"]["work_experiences"][0]["start_date"] == dt.date(2005, 1, 1)
