"""个人信息变更 (issue #6): 【下载】个人信息表, 【异动申请】 and its review, 【修改】 with its
locked and after-training fields, change records, the review of a change of 专业, 个人中心."""
import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy.exc import IntegrityError

from app.models import ChangeStatus, ExpertStatus, utcnow
from tests.conftest import login, login_expert, login_staff, page_text
from tests.test_application import assert_cjk_font_embedded, fill_and_submit, ref
from tests.test_uploads import pdf, png


def errors_of(resp) -> dict[str, str]:
    return dict(re.findall(r'data-error-for="([^"]+)">([^<]+)', resp.get_data(True)))


def _db():
    from app.extensions import db

    return db


def make_admitted(app, make_expert, name: str = "变更专家"):
    """An expert whose complete application was approved (专家编号 given), signed in."""
    from app.models import Expert
    from app.services import application

    account = make_expert(name)
    client = app.test_client()
    login_expert(client, account)
    fill_and_submit(app, client, account)
    with app.app_context():
        db = _db()
        expert = db.session.get(Expert, account.expert_id)
        application.review(db.session, expert, "approve", reviewer_id=None,
                           seen_version=expert.version, opinion=None)
        db.session.commit()
        db.session.remove()
    account.client = client
    return account


@pytest.fixture
def admitted(app, make_expert):
    return make_admitted(app, make_expert)


def pass_training(app, expert_id: int) -> None:
    """The expert passed continuing education: every course of a round 合格, 培训完毕."""
    from app.models import Course, Enrollment, TrainingRound

    with app.app_context():
        db = _db()
        now = utcnow()
        rnd = TrainingRound(name=f"变更测试批次{expert_id}", admission_batches="无", fee_fen=100,
                            enroll_start=now, enroll_end=now, active=False)
        course = Course(round=rnd, name="继续教育课程", required_minutes=1)
        db.session.add(Enrollment(expert_id=expert_id, course=course, paid_at=now,
                                  review_status="合格", completed=True, graded_at=now))
        db.session.commit()
        db.session.remove()


def expert_of(app, expert_id: int) -> dict:
    from app.models import Expert

    with app.app_context():
        e = _db().session.get(Expert, expert_id)
        out = {"prefecture": str(e.prefecture), "employer": e.employer, "address": e.address,
               "email": e.email, "phone": e.phone, "main_specialty": str(e.main_specialty),
               "name": e.name, "id_number": e.id_number, "version": e.version,
               "avoidance": sorted(u.name for u in e.avoidance_units)}
        _db().session.remove()
    return out


def changes_of(app, expert_id: int) -> list[tuple[str, str, str | None, str | None]]:
    from app.models import ProfileChange

    with app.app_context():
        rows = _db().session.query(ProfileChange).filter_by(expert_id=expert_id) \
            .order_by(ProfileChange.id).all()
        out = [(r.field, r.status, r.before, r.after) for r in rows]
        _db().session.remove()
    return out


# ---------------------------------------------------------------- 下载 个人信息表


def test_personal_information_form_pdf(app, admitted):
    resp = admitted.client.get("/my/info.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert "attachment" in resp.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(resp.data))
    text = "".join(page.extract_text() for page in reader.pages)
    compact = re.sub(r"\s+", "", text)
    expert = expert_of(app, admitted.expert_id)
    assert "评标专家个人信息表" in compact and "变更专家" in compact
    assert expert["id_number"] in compact and "学习培训情况" in compact
    assert re.search(r"专家编号：XJ\d{10}", compact)
    assert_cjk_font_embedded(reader)


def test_profile_page_offers_the_manuals_buttons_once_admitted(app, admitted, make_expert):
    html = admitted.client.get("/expert/").get_data(True)
    for button in ("btn-download-info", "btn-transfer", "btn-modify"):
        assert f'id="{button}"' in html
    draft = make_expert("草稿专家")
    client = app.test_client()
    login_expert(client, draft)
    assert 'id="btn-modify"' not in client.get("/expert/").get_data(True)
    # a draft expert is sent to the wizard, not to 修改
    assert client.get("/my/modify").status_code == 302


# ---------------------------------------------------------------- 异动申请


def test_transfer_waits_for_continuing_education(app, admitted):
    client = admitted.client
    assert "考试合格后，再提交【异动申请】" in page_text(client.get("/my/transfer"))
    resp = client.post("/my/transfer", data={"to_prefecture": ref(app, "Prefecture", "乌鲁木齐市"),
                                              "reason": "工作调动"})
    assert resp.status_code == 200 and "考试合格后" in page_text(resp)
    with app.app_context():
        from app.models import TransferRequest

        assert _db().session.query(TransferRequest).count() == 0 or not _db().session.query(
            TransferRequest).filter_by(expert_id=admitted.expert_id).count()
        _db().session.remove()


def test_transfer_request_review_and_history(app, admitted):
    from app.models import TransferRequest

    pass_training(app, admitted.expert_id)
    client = admitted.client
    before = expert_of(app, admitted.expert_id)
    assert before["prefecture"] == "乌鲁木齐市"  # from the application
    # bad input: a message beside each field, what was typed and uploaded is kept
    resp = client.post("/my/transfer", data={
        "to_prefecture": ref(app, "Prefecture", "乌鲁木齐市"), "reason": "",
        "attachment__upload": (io.BytesIO(pdf()), "调动证明.pdf")},
        content_type="multipart/form-data")
    assert resp.status_code == 200
    assert errors_of(resp) == {"to_prefecture": "异动后的所在市州不能与当前所在市州相同",
                               "reason": "请填写异动原因"}
    kept = re.search(r'name="attachment_id" value="(\d+)"', resp.get_data(True)).group(1)
    assert 'id="attachment-kept"' in resp.get_data(True)
    resp = client.post("/my/transfer", data={"to_prefecture": ref(app, "Prefecture", "喀什地区"),
                                              "reason": "x" * 501, "attachment_id": kept})
    assert errors_of(resp) == {"reason": "异动原因不能超过500字（当前501字）"}
    assert f'value="{"x" * 501}"' not in resp.get_data(True) and "x" * 501 in resp.get_data(True)

    resp = client.post("/my/transfer", data={"to_prefecture": ref(app, "Prefecture", "喀什地区"),
                                              "reason": "工作单位调动至喀什", "attachment_id": kept})
    assert resp.status_code == 302
    page = page_text(client.get("/my/transfer"))
    assert "您的异动申请正在审核中" in page and "喀什地区" in page
    # one open request at a time
    resp = client.post("/my/transfer", data={"to_prefecture": ref(app, "Prefecture", "伊犁哈萨克自治州"),
                                              "reason": "再申请一次"})
    assert resp.status_code == 200 and "正在审核中" in page_text(resp)
    with app.app_context():
        first = _db().session.query(TransferRequest).filter_by(expert_id=admitted.expert_id).one()
        first_id, attachment_id = first.id, first.attachment_file_id
        _db().session.remove()
    assert str(attachment_id) == kept

    staff = app.test_client()
    login_staff(staff)
    listing = page_text(staff.get("/transferrequestadminview/list/"))
    assert "变更专家" in listing and "待审核" in listing
    show = staff.get(f"/transferrequestadminview/show/{first_id}").get_data(True)
    assert 'id="btn-approve"' in show and 'id="btn-reject"' in show
    # 驳回 needs an opinion
    resp = staff.post(f"/transferrequestadminview/decide/{first_id}", data={"action": "reject"})
    assert "驳回须填写审核意见" in page_text(staff.get(resp.headers["Location"]))
    resp = staff.post(f"/transferrequestadminview/decide/{first_id}",
                      data={"action": "reject", "opinion": "请补充调动证明原件"})
    assert resp.status_code == 302
    assert expert_of(app, admitted.expert_id)["prefecture"] == "乌鲁木齐市"
    # a decided request cannot be decided again
    staff.post(f"/transferrequestadminview/decide/{first_id}", data={"action": "approve"})
    assert expert_of(app, admitted.expert_id)["prefecture"] == "乌鲁木齐市"

    resp = client.post("/my/transfer", data={"to_prefecture": ref(app, "Prefecture", "喀什地区"),
                                              "reason": "已补充调动证明"})
    assert resp.status_code == 302
    with app.app_context():
        second = _db().session.query(TransferRequest).filter_by(
            expert_id=admitted.expert_id, status="待审核").one().id
        _db().session.remove()
    staff.post(f"/transferrequestadminview/decide/{second}", data={"action": "approve"})
    assert expert_of(app, admitted.expert_id)["prefecture"] == "喀什地区"
    history = page_text(client.get("/my/transfer"))
    assert "已驳回" in history and "已通过" in history and "请补充调动证明原件" in history
    assert ("所在市州", "已通过", "乌鲁木齐市", "喀什地区") in changes_of(app, admitted.expert_id)
    with app.app_context():  # filed and decided requests are in the audit trail
        from app.models import AuditEvent

        events = _db().session.query(AuditEvent).filter_by(object_type="异动申请").all()
        actions = [(e.action, e.after) for e in events]
        _db().session.remove()
    assert sum(a == "新增" for a, _ in actions) >= 2
    assert any(a == "审核" and "已驳回" in (after or "") for a, after in actions)
    assert any(a == "审核" and "已通过" in (after or "") for a, after in actions)


def test_transfer_withdraw_and_one_open_request_in_the_database(app, admitted):
    from app.models import Prefecture, TransferRequest

    pass_training(app, admitted.expert_id)
    client = admitted.client
    client.post("/my/transfer", data={"to_prefecture": ref(app, "Prefecture", "昌吉回族自治州"),
                                      "reason": "家庭原因"})
    assert client.post("/my/transfer/withdraw").status_code == 302
    assert "已撤回" in page_text(client.get("/my/transfer"))
    assert client.post("/my/transfer/withdraw").status_code == 404  # nothing open
    assert expert_of(app, admitted.expert_id)["prefecture"] == "乌鲁木齐市"
    with app.app_context():
        db = _db()
        target = db.session.query(Prefecture).filter_by(name="昌吉回族自治州").one()
        db.session.add(TransferRequest(expert_id=admitted.expert_id, to_prefecture=target,
                                       reason="一", status="待审核"))
        db.session.commit()
        db.session.add(TransferRequest(expert_id=admitted.expert_id, to_prefecture=target,
                                       reason="二", status="待审核"))
        with pytest.raises(IntegrityError):  # the partial unique index, whatever the screens do
            db.session.commit()
        db.session.rollback()
        db.session.remove()


def test_another_experts_upload_cannot_be_attached_to_a_transfer(app, admitted, make_expert):
    other = make_expert("别人")
    with app.app_context():
        from app.services import uploads

        stored = uploads.store(_db().session, owner_id=other.user_id, kind_name="transfer",
                               filename="别人的.pdf", data=pdf(),
                               upload_dir=app.config["UPLOAD_FOLDER"])
        _db().session.commit()
        foreign = stored.id
        _db().session.remove()
    pass_training(app, admitted.expert_id)
    resp = admitted.client.post("/my/transfer", data={
        "to_prefecture": ref(app, "Prefecture", "喀什地区"), "reason": "调动",
        "attachment_id": str(foreign)})
    assert resp.status_code == 200 and errors_of(resp) == {"attachment": "请重新上传附件"}


# ---------------------------------------------------------------- 修改


def modify_form(app, client) -> dict:
    """The 修改 page's own inputs, as the browser would send them back."""
    html = client.get("/my/modify").get_data(True)
    data = {}
    for tag in re.findall(r"<(?:input|textarea|select)[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or "disabled" in tag or name.group(1).endswith("__upload"):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="radio"' in tag:
            if "checked" in tag:
                data[name.group(1)] = value.group(1)
            continue
        if tag.startswith("<select"):
            block = html[html.index(tag):]
            block = block[:block.index("</select>")]
            chosen = re.findall(r'<option value="([^"]*)" selected', block)
            if 'multiple' in tag:
                data[name.group(1)] = chosen
            else:
                data[name.group(1)] = chosen[0] if chosen else ""
            continue
        if tag.startswith("<textarea"):
            block = html[html.index(tag) + len(tag):]
            data[name.group(1)] = block[:block.index("</textarea>")]
            continue
        data[name.group(1)] = value.group(1) if value else ""
    data.pop("csrf_token", None)
    data["action"] = "save"
    return data


def test_modify_changes_allowed_fields_and_records_them(app, admitted):
    client = admitted.client
    data = modify_form(app, client)
    assert data["b_address"] == "乌鲁木齐市天山区某路1号"
    data.update({"b_address": "乌鲁木齐市沙依巴克区新路8号", "b_backup_phone": "13700002222",
                 # locked ones posted anyway: nothing changes
                 "b_prefecture": ref(app, "Prefecture", "喀什地区"), "b_name": "改名",
                 "b_id_number": "650102198001011234", "b_employer": "偷偷换的单位",
                 "avoidance_units-count": "1", "avoidance_units-0-name": "偷偷加的回避单位"})
    resp = client.post("/my/modify", data=data)
    assert resp.status_code == 302, errors_of(resp)
    after = expert_of(app, admitted.expert_id)
    assert after["address"] == "乌鲁木齐市沙依巴克区新路8号"
    assert after["prefecture"] == "乌鲁木齐市" and after["name"] == "变更专家"
    assert after["employer"] == "新疆测试建设公司"  # 工作单位 waits for continuing education
    assert after["avoidance"] == ["新疆测试建设公司"]
    changes = changes_of(app, admitted.expert_id)
    assert ("详细地址", "已生效", "乌鲁木齐市天山区某路1号", "乌鲁木齐市沙依巴克区新路8号") in changes
    # personal data is masked in the record
    assert ("本人备用手机号码", "已生效", "137****1111", "137****2222") in changes
    assert len(changes) == 2
    page = client.get("/my/modify").get_data(True)
    assert 'data-locked="prefecture"' in page and 'data-locked="employer"' in page
    assert 'data-locked="avoidance_units"' in page and "异动申请" in page
    assert "乌鲁木齐市沙依巴克区新路8号" in page_text(client.get("/my/modify"))
    # staff see the record
    staff = app.test_client()
    login_staff(staff)
    assert "乌鲁木齐市沙依巴克区新路8号" in page_text(staff.get("/profilechangeadminview/list/"))


def test_modify_keeps_bad_input_with_messages(app, admitted):
    client = admitted.client
    data = modify_form(app, client)
    data.update({"b_email": "不是邮箱", "b_address": "新地址未保存"})
    resp = client.post("/my/modify", data=data)
    assert resp.status_code == 200
    assert errors_of(resp) == {"b_email": "电子邮箱格式不正确，例如 zhangsan@163.com"}
    html = resp.get_data(True)
    assert 'value="不是邮箱"' in html and 'value="新地址未保存"' in html
    assert expert_of(app, admitted.expert_id)["address"] == "乌鲁木齐市天山区某路1号"
    assert changes_of(app, admitted.expert_id) == []


def test_after_training_employer_changes_and_specialty_goes_to_review(app, admitted):
    from app.models import ProfileChange

    pass_training(app, admitted.expert_id)
    client = admitted.client
    data = modify_form(app, client)
    data.update({"b_employer": "新疆新单位有限公司",
                 "b_main_specialty": ref(app, "Specialty", "建筑给排水"),
                 "avoidance_units-count": "1", "avoidance_units-0-name": "新疆某监理公司",
                 "avoidance_units-0-reason": "曾任职"})
    resp = client.post("/my/modify", data=data)
    assert resp.status_code == 302, errors_of(resp)
    after = expert_of(app, admitted.expert_id)
    assert after["employer"] == "新疆新单位有限公司"
    assert after["avoidance"] == ["新疆新单位有限公司", "新疆某监理公司"]
    assert after["main_specialty"] == "房屋建筑工程/建筑工程（土建）"  # held for review
    changes = changes_of(app, admitted.expert_id)
    assert ("工作单位", "已生效", "新疆测试建设公司", "新疆新单位有限公司") in changes
    pending = [c for c in changes if c[1] == "待审核"]
    assert len(pending) == 1 and "建筑给排水" in pending[0][3] and "建筑工程（土建）" in pending[0][2]
    # while it waits, the 专业 fields are locked
    page = client.get("/my/modify").get_data(True)
    assert 'data-locked="main_specialty"' in page and 'id="pending-specialty"' in page

    with app.app_context():
        change_id = _db().session.query(ProfileChange).filter_by(
            expert_id=admitted.expert_id, status="待审核").one().id
        _db().session.remove()
    staff = app.test_client()
    login_staff(staff)
    show = staff.get(f"/profilechangeadminview/show/{change_id}").get_data(True)
    assert 'id="btn-approve"' in show
    staff.post(f"/profilechangeadminview/decide/{change_id}", data={"action": "approve"})
    assert expert_of(app, admitted.expert_id)["main_specialty"] == "房屋建筑工程/建筑给排水"
    assert ChangeStatus.APPROVED.value in [c[1] for c in changes_of(app, admitted.expert_id)]


def test_applied_changes_cannot_be_decided(app, admitted):
    from app.models import ProfileChange

    client = admitted.client
    data = modify_form(app, client)
    data["b_address"] = "另一个地址"
    client.post("/my/modify", data=data)
    with app.app_context():
        change_id = _db().session.query(ProfileChange).filter_by(
            expert_id=admitted.expert_id).one().id
        _db().session.remove()
    staff = app.test_client()
    login_staff(staff)
    assert 'id="btn-approve"' not in staff.get(
        f"/profilechangeadminview/show/{change_id}").get_data(True)
    resp = staff.post(f"/profilechangeadminview/decide/{change_id}", data={"action": "approve"})
    assert "该修改无需审核" in page_text(staff.get(resp.headers["Location"]))


def test_change_request_state_machine():
    from app.services.change_requests import allowed_request_actions, decide
    from app.services.expert_status import TransitionError

    class Request:
        status = "待审核"
        reviewer_id = reviewed_at = opinion = None

    assert allowed_request_actions("待审核", "reviewer") == ["approve", "reject"]
    assert allowed_request_actions("待审核", "expert") == ["withdraw"]
    assert allowed_request_actions("已通过", "admin") == []
    r = Request()
    with pytest.raises(TransitionError, match="无权"):
        decide(r, "approve", actor_kind="expert", actor_id=1, owner_user_id=1)
    with pytest.raises(TransitionError, match="无权"):
        decide(r, "withdraw", actor_kind="expert", actor_id=2, owner_user_id=1)
    with pytest.raises(TransitionError, match="审核意见"):
        decide(r, "reject", actor_kind="reviewer", actor_id=9, owner_user_id=1, opinion="  ")
    decide(r, "reject", actor_kind="reviewer", actor_id=9, owner_user_id=1, opinion="不符合")
    assert (r.status, r.reviewer_id, r.opinion) == ("已驳回", 9, "不符合")
    with pytest.raises(TransitionError, match="已驳回"):
        decide(r, "approve", actor_kind="admin", actor_id=9, owner_user_id=1)


# ---------------------------------------------------------------- 个人中心


def test_personal_centre_basic_profile(app, admitted, make_expert):
    client = admitted.client
    page = client.get("/account/")
    assert page.status_code == 200
    html = page.get_data(True)
    assert "基本资料" in html and "修改密码" in html and admitted.phone in html
    other = make_expert("占用者")
    # bad and taken phone numbers, bad e-mail: messages beside the fields, input kept
    resp = client.post("/account/", data={"phone": "12345", "email": "bad"})
    text = page_text(resp)
    assert "手机号码格式不正确" in text and "电子邮箱格式不正确" in text
    assert 'value="12345"' in resp.get_data(True)
    resp = client.post("/account/", data={"phone": other.phone, "email": "a@b.cn"})
    assert "该手机号码已被其他账号使用" in page_text(resp)
    # a hostile avatar is refused
    resp = client.post("/account/", data={"phone": admitted.phone, "email": "zhuanjia@163.com",
                                          "avatar": (io.BytesIO(pdf()), "头像.png")},
                       content_type="multipart/form-data")
    assert resp.status_code == 200 and "field-error" in resp.get_data(True)
    resp = client.post("/account/", data={"phone": "13600001234", "email": "New@Example.cn",
                                          "avatar": (io.BytesIO(png()), "头像.png")},
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    after = expert_of(app, admitted.expert_id)
    assert (after["phone"], after["email"]) == ("13600001234", "new@example.cn")
    assert ("本人手机号码", "已生效", "139****" + admitted.phone[-4:], "136****1234") in \
        changes_of(app, admitted.expert_id)
    html = client.get("/account/").get_data(True)
    assert 'id="avatar-preview"' in html and 'class="navbar-avatar"' in html
    # the new phone is a login
    fresh = app.test_client()
    assert login(fresh, "13600001234", admitted.password).status_code == 302


def test_staff_basic_profile_on_the_account(app):
    from app.models import AppUser

    staff = app.test_client()
    login_staff(staff, "testadmin")
    resp = staff.post("/account/", data={"phone": "", "email": "testadmin@example.gov.cn"})
    assert resp.status_code == 302
    resp = staff.post("/account/", data={"phone": "13511112222",
                                         "email": "testreviewer@example.gov.cn"})
    assert "该电子邮箱已被其他账号使用" in page_text(resp)
    resp = staff.post("/account/", data={"phone": "13511112222", "email": "admin2@example.gov.cn"})
    assert resp.status_code == 302
    with app.app_context():
        user = _db().session.query(AppUser).filter_by(username="testadmin").one()
        assert (user.phone, user.email) == ("13511112222", "admin2@example.gov.cn")
        user.email = "testadmin@example.gov.cn"
        _db().session.commit()
        _db().session.remove()


def test_user_menu_has_personal_centre_and_logout(app, admitted):
    html = admitted.client.get("/expert/").get_data(True)
    menu = html[html.index('id="user-menu"'):]
    assert "个人中心" in menu and "退出登录" in menu
    assert admitted.client.get("/account/password").status_code == 200


def test_experts_may_not_review_changes(app, admitted):
    client = admitted.client
    for url in ("/transferrequestadminview/list/", "/profilechangeadminview/list/"):
        assert client.get(url).status_code in (302, 403, 404)
    assert client.post("/profilechangeadminview/decide/1",
                       data={"action": "approve"}).status_code in (302, 403, 404)
    assert ExpertStatus.ADMITTED.value == "已入库"
