"""The English switch covers the words stored in Chinese (statuses, audit actions), the
review's rule table, the wizard's step names and the forms' help texts; Chinese unchanged."""
from flask_babel import force_locale

from app.models import BatchStatus, ExpertStatus
from app.views.base import with_status_text
from tests.conftest import login_expert, login_staff, page_text


def _both(client, url: str) -> tuple[str, str]:
    """The page's text in Chinese, then in English (the language is the session's)."""
    client.get("/lang/zh")
    chinese = page_text(client.get(url))
    client.get("/lang/en")
    english = page_text(client.get(url))
    client.get("/lang/zh")
    return chinese, english


def test_expert_list_shows_statuses_in_english(app, make_expert):
    make_expert("英文状态", status=ExpertStatus.ADMITTED)
    staff = app.test_client()
    login_staff(staff, "testadmin")
    chinese, english = _both(staff, "/expertadminview/list/?_flt_0_name=英文状态")
    assert "英文状态" in chinese and "已入库" in chinese
    assert "英文状态" in english and "Admitted" in english and "已入库" not in english


def test_expert_show_page_status_in_english(app, make_expert):
    account = make_expert("英文详情", status=ExpertStatus.ADMITTED)
    staff = app.test_client()
    login_staff(staff, "testadmin")
    chinese, english = _both(staff, f"/expertadminview/show/{account.expert_id}")
    assert "已入库" in chinese and "续聘" in chinese
    assert "Admitted" in english and "已入库" not in english and "续聘" not in english


def test_audit_log_actions_in_english(app):
    staff = app.test_client()
    login_staff(staff, "testadmin")  # records 登录成功
    chinese, english = _both(staff, "/auditeventview/list/")
    assert "登录成功" in chinese
    assert "Signed in" in english and "登录成功" not in english


def test_review_rule_table_in_english(app, make_expert):
    account = make_expert("英文审核", status=ExpertStatus.PENDING)
    reviewer = app.test_client()
    login_staff(reviewer)
    chinese, english = _both(reviewer, f"/review/{account.expert_id}")
    assert "入库条件" in chinese and "工作年限" in chinese and "至少" in chinese
    assert "待审核" in chinese
    for word in ("Years of work", "Age", "at least", "Pending review"):
        assert word in english, word
    for word in ("工作年限", "至少", "待审核", "年龄"):
        assert word not in english, word


def test_wizard_step_names_and_status_in_english(app, make_expert):
    expert = app.test_client()
    login_expert(expert, make_expert("英文向导"))
    chinese, english = _both(expert, "/application/step/1")
    assert "填写基本信息" in chinese and "选择入库类型" in chinese and "草稿" in chinese
    for word in ("Fill in basic information", "Choose admission type", "Draft"):
        assert word in english, word
    for word in ("填写基本信息", "选择入库类型", "上传申请表", "草稿"):
        assert word not in english, word


def test_help_text_in_english(app):
    staff = app.test_client()
    login_staff(staff, "testadmin")
    chinese, english = _both(staff, "/expertadminview/add")
    assert "本人手机号码，也可用作登录账号" in chinese
    assert "本人手机号码，也可用作登录账号" not in english
    assert "it can also be used to sign in" in english


def test_extra_field_help_text_in_english(app):
    staff = app.test_client()
    login_staff(staff, "testadmin")
    chinese, english = _both(staff, "/trainingroundadminview/add")
    assert "单位：元，如 300 或 300.00" in chinese
    assert "单位：元，如 300 或 300.00" not in english and "In yuan, e.g. 300" in english


def test_expert_home_status_in_english(app, make_expert):
    expert = app.test_client()
    login_expert(expert, make_expert("英文首页", status=ExpertStatus.ADMITTED))
    chinese, english = _both(expert, "/expert/")
    assert "已入库" in chinese
    assert "Admitted" in english and "已入库" not in english


def test_upload_field_help_text_in_english(app):
    staff = app.test_client()
    login_staff(staff, "testadmin")
    chinese, english = _both(staff, "/attachmentadminview/add")
    assert "PDF、JPG 或 PNG，不超过 10 MB" in chinese
    assert "PDF, JPG or PNG, at most 10 MB" in english


def test_polled_progress_status_in_the_sessions_language(app):
    with app.test_request_context():
        with force_locale("en"):
            assert with_status_text({"status": BatchStatus.DONE.value, "done": 2}) == {
                "status": "Finished", "done": 2}
        with force_locale("zh"):
            assert with_status_text({"status": BatchStatus.DONE.value})["status"] == "已完成"


def test_wizard_notes_in_english(app, make_expert):
    expert = app.test_client()
    login_expert(expert, make_expert("英文提示"))
    chinese, english = _both(expert, "/application/step/2")
    assert "请选择【续聘】" in chinese and "新聘" in chinese
    assert "choose 【Renewal】 as the admission type" in english
    assert "请选择【续聘】" not in english and "New appointment" in english


def test_choice_labels_of_staff_forms_in_english(app):
    staff = app.test_client()
    login_staff(staff, "testadmin")
    chinese, english = _both(staff, "/expertadminview/add")
    assert "新聘" in chinese and "New appointment" in english and "新聘" not in english
    chinese, english = _both(staff, "/questionadminview/add")
    assert "单选" in chinese and "Single choice" in english and "单选" not in english
