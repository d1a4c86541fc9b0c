"""Step 1 of the manual: 【专家】/管理人员, 【账号密码登录】, forced password change, logout."""
import pytest

from tests.conftest import EXPERT_PASSWORD, STAFF_PASSWORD, login, login_expert, page_text

FAILED = "账号或密码错误"


def test_login_page_has_the_manual_words(client):
    text = page_text(client.get("/login/"))
    for words in ("新疆维吾尔自治区房屋建筑和市政基础设施项目评标专家管理系统", "专家", "管理人员",
                  "账号密码登录"):
        assert words in text


def test_expert_logs_in_with_pinyin_and_with_phone(app, make_expert):
    account = make_expert("王建设")
    assert account.username.startswith("wangjianshe")
    for username in (account.username, account.phone, f"+86 {account.phone}"):
        client = app.test_client()
        resp = login(client, username, account.password)
        assert resp.status_code == 302, username
        assert client.get("/", follow_redirects=True).status_code == 200
        assert "王建设" in page_text(client.get("/expert/"))


def test_same_message_for_wrong_password_and_unknown_account(client, make_expert):
    account = make_expert()
    wrong = login(client, account.username, "Wrong12345")
    unknown = login(client, "nobody-here", "Wrong12345")
    assert wrong.status_code == unknown.status_code == 200
    assert FAILED in page_text(wrong) and FAILED in page_text(unknown)
    # what was typed stays in the account field
    assert f'value="{account.username}"' in wrong.get_data(as_text=True)


def test_accounts_sign_in_on_their_own_tab_only(app, make_expert):
    account = make_expert()
    resp = login(app.test_client(), account.username, account.password, kind="staff")
    assert resp.status_code == 200 and FAILED in page_text(resp)
    resp = login(app.test_client(), "testreviewer", STAFF_PASSWORD, kind="expert")
    assert resp.status_code == 200 and FAILED in page_text(resp)
    resp = login(app.test_client(), "testreviewer", STAFF_PASSWORD, kind="staff")
    assert resp.status_code == 302


def test_default_password_forces_a_change_before_anything_else(app, make_expert):
    account = make_expert("赵默认", default_password=True)
    client = app.test_client()
    resp = login(client, account.username, account.id_number[-8:])
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/password")
    for url in ("/", "/expert/", "/expertadminview/list/"):
        resp = client.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/password")
    assert "请立即修改密码" in page_text(client.get("/account/password"))

    # bad attempts: each message beside its field, nothing changes
    resp = client.post("/account/password", data={
        "current_password": "wrong", "new_password": "short", "confirm_password": "other"})
    text = page_text(resp)
    assert "原密码不正确" in text and "至少8位" in text and "两次输入的新密码不一致" in text
    resp = client.post("/account/password", data={
        "current_password": account.id_number[-8:], "new_password": account.id_number[-8:],
        "confirm_password": account.id_number[-8:]})
    assert "默认密码" in page_text(resp) or "字母和数字" in page_text(resp)
    resp = client.post("/account/password", data={
        "current_password": account.id_number[-8:], "new_password": account.username + "1",
        "confirm_password": account.username + "1"})
    assert "账号" in page_text(resp)
    assert client.get("/expert/").status_code == 302

    resp = client.post("/account/password", data={
        "current_password": account.id_number[-8:], "new_password": "Xinjiang2025",
        "confirm_password": "Xinjiang2025"})
    assert resp.status_code == 302
    assert client.get("/expert/").status_code == 200
    # the new password works, the default one no longer does
    assert login(app.test_client(), account.username, "Xinjiang2025").status_code == 302
    assert login(app.test_client(), account.username, account.id_number[-8:]).status_code == 200


def test_logout_is_a_post(app, make_expert):
    account = make_expert()
    client = app.test_client()
    login_expert(client, account)
    assert client.get("/logout/").status_code == 405
    assert client.get("/expert/").status_code == 200
    resp = client.post("/logout/")
    assert resp.status_code == 302
    assert client.get("/expert/").status_code in (302, 401, 403)


def test_login_and_logout_need_the_csrf_token(app, make_expert):
    account = make_expert()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        client = app.test_client()
        resp = login(client, account.username, EXPERT_PASSWORD)
        assert resp.status_code == 400
        assert "页面已过期" in page_text(resp)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


@pytest.mark.parametrize("kind", ["expert", "staff"])
def test_empty_login_fields_get_chinese_messages(client, kind):
    text = page_text(login(client, "", "", kind))
    assert "请输入账号" in text and "请输入密码" in text
