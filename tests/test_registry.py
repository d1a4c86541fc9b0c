"""Staff screens of the registry and the expert's own profile."""
import io
import re

from openpyxl import load_workbook

from app.masking import mask_id_number, mask_phone
from tests.conftest import login_expert, login_staff, page_text, unique_identity

TABS = ["基本信息", "教育经历", "专业技术", "职称及资质", "工作经历", "评标实践经验", "业务技术专长",
        "回避单位", "账户信息", "附件", "审核详情", "学习培训情况"]


def test_expert_list_masks_personal_data(app, make_expert):
    account = make_expert("马列表")
    client = app.test_client()
    login_staff(client)
    html = client.get("/expertadminview/list/?psize_ExpertAdminView=100").get_data(True)
    assert "马列表" in html
    assert account.id_number not in html and account.phone not in html
    assert mask_id_number(account.id_number) in html and mask_phone(account.phone) in html
    for header in ("申请专家编号", "专家编号", "姓名", "身份证号", "本人手机号码", "所在市州", "状态"):
        assert header in html


def test_search_by_exact_id_number_and_phone_only(app, make_expert):
    account = make_expert("查精确")
    client = app.test_client()
    login_staff(client)
    found = client.get(f"/expertadminview/list/?_flt_0_id_number={account.id_number}")
    assert "查精确" in page_text(found)
    found = client.get(f"/expertadminview/list/?_flt_0_phone={account.phone}")
    assert "查精确" in page_text(found)
    # filter index 1 would be "starts with" on a stock FAB view: here it does not exist
    prefix = client.get(f"/expertadminview/list/?_flt_1_id_number={account.id_number[:6]}")
    assert prefix.status_code in (200, 302, 400, 404)
    # a prefix through the only allowed filter finds nothing
    none = client.get(f"/expertadminview/list/?_flt_0_id_number={account.id_number[:10]}")
    assert "查精确" not in page_text(none)


def test_filter_by_prefecture_and_name(app, make_expert):
    make_expert("筛选甲", prefecture="喀什地区")
    client = app.test_client()
    login_staff(client)
    from app.extensions import db
    from app.models import Prefecture
    with app.app_context():
        kashgar = db.session.query(Prefecture).filter_by(name="喀什地区").one().id
        db.session.remove()
    text = page_text(client.get(
        f"/expertadminview/list/?_flt_0_prefecture={kashgar}&_flt_0_name=筛选甲"))
    assert "筛选甲" in text


def test_export_excel_has_chinese_headers_and_masks(app, make_expert):
    account = make_expert("导出人")
    client = app.test_client()
    login_staff(client)
    resp = client.get("/expertadminview/export/?_flt_0_name=导出人")
    assert resp.status_code == 200
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(resp.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("申请专家编号", "专家编号", "账号", "姓名")
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1]))
    assert row["姓名"] == "导出人"
    assert row["身份证号"] == mask_id_number(account.id_number)
    assert row["本人手机号码"] == mask_phone(account.phone)
    assert account.id_number not in str(rows)


def test_add_expert_bad_input_keeps_what_was_typed(app):
    client = app.test_client()
    login_staff(client)
    resp = client.post("/expertadminview/add", data={
        "name": "王五x", "id_number": "650102197806153218", "phone": "123",
        "email": "not-an-email", "address": "乌鲁木齐市某路1号"})
    assert resp.status_code == 200
    text = page_text(resp)
    assert "姓名应为汉字" in text
    assert "身份证号校验位不正确" in text
    assert "手机号码格式不正确" in text
    assert "电子邮箱格式不正确" in text
    html = resp.get_data(True)
    for typed in ("王五x", "650102197806153218", "乌鲁木齐市某路1号", "not-an-email"):
        assert typed in html


def test_add_expert_creates_account_with_default_password(app):
    from app.extensions import db
    from app.models import Expert

    id_number, phone = unique_identity(female=True)
    client = app.test_client()
    login_staff(client)
    resp = client.post("/expertadminview/add", data={
        "name": "孙新增", "id_number": id_number.lower(), "phone": f"+86 {phone}",
        "employer": "新疆某设计院", "admission_type": "新聘"})
    assert resp.status_code == 302, page_text(resp)
    with app.app_context():
        expert = db.session.query(Expert).filter_by(id_number=id_number.upper()).one()
        assert expert.phone == phone
        assert expert.gender == "女"
        assert expert.birth_date.strftime("%Y%m%d") == id_number[6:14]
        assert expert.user.username.startswith("sunxinzeng")
        assert expert.user.must_change_password
        assert expert.application_no.startswith("SQ")
        assert [(u.name, u.is_employer) for u in expert.avoidance_units] == [("新疆某设计院", True)]
        db.session.remove()


def test_duplicate_id_number_is_refused_beside_the_field(app, make_expert):
    account = make_expert("重复者")
    client = app.test_client()
    login_staff(client)
    resp = client.post("/expertadminview/add", data={"name": "重复者", "id_number": account.id_number})
    assert resp.status_code == 200
    assert "该身份证号已存在" in page_text(resp)


def test_edit_employer_moves_the_employer_avoidance_unit(app, make_expert):
    from app.extensions import db
    from app.models import Expert

    account = make_expert("改单位", employer="旧单位")
    client = app.test_client()
    login_staff(client)
    resp = client.post(f"/expertadminview/edit/{account.expert_id}", data={
        "name": "改单位", "id_number": account.id_number, "phone": account.phone,
        "employer": "新单位", "admission_type": "续聘"})
    assert resp.status_code == 302, page_text(resp)
    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        assert [(u.name, u.is_employer) for u in expert.avoidance_units] == [("新单位", True)]
        assert expert.version == 2
        db.session.remove()


def test_expert_page_has_the_manual_tabs_as_related_views(app, make_expert):
    account = make_expert("看详情")
    client = app.test_client()
    login_staff(client)
    text = page_text(client.get(f"/expertadminview/show/{account.expert_id}"))
    for tab in ("基本信息", "教育经历", "职称及资质", "工作经历", "评标实践经验", "业务技术专长",
                "回避单位", "账户信息", "附件", "审核详情", "学习培训情况", "专业技术"):
        assert tab in text
    assert account.id_number in text  # the full number on the detail page, for staff
    # each tab is the related FAB view, built when opened
    tab = client.get(f"/expertadminview/show/{account.expert_id}?tab=AvoidanceUnitAdminView")
    assert "新疆测试建设公司" in page_text(tab) and "本人工作单位" in page_text(tab)
    assert "/avoidanceunitadminview/add" in tab.get_data(True)


def test_child_row_dates_are_checked(app, make_expert):
    account = make_expert("日期检查")
    client = app.test_client()
    login_staff(client)
    resp = client.post("/educationadminview/add", data={
        "expert": account.expert_id, "school": "新疆大学", "start_date": "2005-09-01",
        "end_date": "2001-07-01"})
    assert resp.status_code == 200
    text = page_text(resp)
    assert "开始时间不能晚于结束时间" in text
    assert "新疆大学" in resp.get_data(True)


def test_expert_home_shows_own_profile_in_twelve_tabs(app, make_expert):
    other = make_expert("别人家")
    account = make_expert("我自己")
    client = app.test_client()
    login_expert(client, account)
    resp = client.get("/", follow_redirects=True)
    text = page_text(resp)
    assert "专家管理系统" in text and "我自己" in text and "别人家" not in text
    for tab in TABS:
        assert tab in text
    assert other.id_number not in resp.get_data(True)


def test_reference_tables_filled_from_csv(app):
    client = app.test_client()
    login_staff(client)
    text = page_text(client.get("/prefectureadminview/list/?psize_PrefectureAdminView=50"))
    for name in ("乌鲁木齐市", "克拉玛依市", "喀什地区", "阿勒泰地区"):
        assert name in text
    text = page_text(client.get("/specialtyadminview/list/?psize_SpecialtyAdminView=100"))
    assert "房屋建筑工程" in text


def test_junk_in_every_staff_form_never_gives_a_500(app, make_expert):
    """Bad input everywhere gets a message, never a server error."""
    from app.views.base import StaffModelView

    account = make_expert("乱填")
    client = app.test_client()
    login_staff(client, "testadmin")
    junk = {"start_date": "not-a-date", "end_date": "2001-13-45", "issue_date": "昨天",
            "evaluated_on": "x", "graded_at": "y", "hours": "十", "expert": "999999999",
            "education_level": "abc", "degree": "-1", "prefecture": "'; drop table",
            "title_level": "x", "level": "x", "parent": "0", "senior": "maybe",
            "main_specialty": "x", "title": "x", "political_status": "x",
            "extra_specialties": ["x", "y"], "name": "<script>alert(1)</script>",
            "id_number": "x" * 300, "code": "x" * 300, "content": "", "is_registered": "x"}
    checked = 0
    for view in app.appbuilder.baseviews:
        if not isinstance(view, StaffModelView) or "can_add" not in view.base_permissions:
            continue
        for url in (f"/{view.route_base.strip('/')}/add",
                    f"/{view.route_base.strip('/')}/edit/{account.expert_id}"):
            resp = client.post(url, data=junk)
            assert resp.status_code < 500, (url, resp.status_code)
            assert "<script>alert(1)</script>" not in resp.get_data(True)
            checked += 1
    assert checked >= 20


def test_name_prefix_search_is_literal_and_indexed(app, make_expert):
    make_expert("买买提·前缀")
    make_expert("买买提·另一")
    client = app.test_client()
    login_staff(client)
    text = page_text(client.get("/expertadminview/list/?_flt_0_name=买买提·前"))
    assert "买买提·前缀" in text and "买买提·另一" not in text
    from urllib.parse import quote

    for wildcard in ("*", "%", "_", "买买提*", "[买]"):
        text = page_text(client.get(f"/expertadminview/list/?_flt_0_name={quote(wildcard)}"))
        assert "买买提·前缀" not in text, wildcard
    assert "买买提·另一" in page_text(client.get("/expertadminview/list/?_flt_1_name=买买提·另一"))
    # "contains" would scan every row: it is not offered (an unknown filter is ignored)
    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "ExpertAdminView")
    assert [f.arg_name for f in view._filters.get_search_filters()["name"]] == ["sw", "eq"]
    assert client.get("/expertadminview/list/?_flt_2_name=前缀").status_code == 200


def test_unfiltered_total_is_refreshed_after_an_insert(app, make_expert):
    client = app.test_client()
    login_staff(client)
    import re as _re

    def total():
        text = page_text(client.get("/expertadminview/list/"))
        return int(_re.search(r"共\s*(\d+)\s*条", text).group(1))

    before = total()
    assert total() == before
    make_expert("计数者")
    assert total() == before + 1


def test_status_owner_and_numbers_are_not_writable_through_forms(app, make_expert):
    """Mass assignment: status, owner, 专家编号 and version posted anyway change nothing."""
    from app.extensions import db
    from app.models import Expert

    account = make_expert("不可改")
    client = app.test_client()
    login_staff(client, "testadmin")
    resp = client.post(f"/expertadminview/edit/{account.expert_id}", data={
        "name": "不可改", "id_number": account.id_number, "phone": account.phone,
        "admission_type": "续聘", "status": "已入库", "user": "1", "user_id": "1",
        "expert_no": "XJ2099999999", "application_no": "SQ99999999", "version": "99"})
    assert resp.status_code == 302
    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        assert expert.status == "草稿" and expert.user_id == account.user_id
        assert expert.expert_no is None and expert.application_no != "SQ99999999"
        assert expert.version == 2
        db.session.remove()


def test_deep_pages_match_plain_offset_paging(app, make_expert, monkeypatch):
    """Deep pages start from noted ids; they must show exactly what OFFSET would."""
    from app.extensions import db
    from app.models import Expert
    from app.views import fastlist

    monkeypatch.setattr(fastlist, "ANCHOR_EVERY", 3)
    for i in range(12):
        make_expert(f"翻页{i}")
    client = app.test_client()
    login_staff(client)
    with app.app_context():
        ids = [i for (i,) in db.session.query(Expert.id).order_by(Expert.id.desc())]
        db.session.remove()
    for page in range(0, len(ids) // 2):
        html = client.get(f"/expertadminview/list/?psize_ExpertAdminView=2"
                          f"&page_ExpertAdminView={page}").get_data(True)
        shown = [int(x) for x in re.findall(r"/expertadminview/show/(\d+)", html)]
        assert sorted(set(shown), reverse=True) == ids[page * 2:page * 2 + 2], page


def test_staff_edits_of_a_bank_account_are_audited_masked(app, make_expert):
    """A tab edited through the staff screens (账户信息) is in the audit trail, added,
    changed and deleted, and the full account number is never in it."""
    import json

    from app.extensions import db
    from app.masking import mask_bank_account
    from app.models import AuditEvent, BankAccount

    account = make_expert("账户审计")
    first, second = "6222020200112233445", "6217003810026688990"
    client = app.test_client()
    login_staff(client, "testadmin")
    resp = client.post("/bankaccountadminview/add", data={
        "expert": account.expert_id, "bank_name": "中国工商银行乌鲁木齐分行",
        "account_no": first, "holder": "账户审计"})
    assert resp.status_code == 302
    with app.app_context():
        row_id = db.session.query(BankAccount.id).filter_by(account_no=first).scalar()
        db.session.remove()
    resp = client.post(f"/bankaccountadminview/edit/{row_id}", data={
        "expert": account.expert_id, "bank_name": "中国建设银行乌鲁木齐分行",
        "account_no": second, "holder": "账户审计"})
    assert resp.status_code == 302
    assert client.post(f"/bankaccountadminview/delete/{row_id}").status_code == 302
    with app.app_context():
        events = db.session.query(AuditEvent).filter_by(
            object_type="账户信息", object_id=f"{account.expert_id}/{row_id}"
        ).order_by(AuditEvent.id).all()
        rows = [(e.action, e.actor_name, e.before or "", e.after or "") for e in events]
        db.session.remove()
    assert [r[0] for r in rows] == ["新增", "修改", "删除"]
    assert all(r[1] == "testadmin" for r in rows)
    added, (before, after) = json.loads(rows[0][3]), (json.loads(rows[1][2]), json.loads(rows[1][3]))
    assert added["account_no"] == mask_bank_account(first)
    assert before == {"account_no": mask_bank_account(first), "bank_name": "中国工商银行乌鲁木齐分行"}
    assert after == {"account_no": mask_bank_account(second), "bank_name": "中国建设银行乌鲁木齐分行"}
    assert json.loads(rows[2][2])["account_no"] == mask_bank_account(second)
    for _action, _actor, old, new in rows:
        assert first not in old + new and second not in old + new
