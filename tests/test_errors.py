"""Issue 11, items 8 and 10: bad input gets a Chinese 400/404 (or is ignored), never a 500;
error pages are Chinese, without internals; the API gets {"message": ...}."""
from __future__ import annotations

import re

import pytest
from flask import abort

from tests.conftest import login_expert, login_staff, page_text

ENGLISH = ("Not Found", "Forbidden", "Bad Request", "Method Not Allowed", "Internal Server Error",
           "Request Entity Too Large", "Service Unavailable", "Traceback", "werkzeug")


FAULTS = {"on": False}


def _fault(make):
    """A view that fails only while this module's tests run (a 404 for later tests: the
    rules cannot be taken out of the map again)."""
    def view():
        if not FAULTS["on"]:
            abort(404)
        return make()
    return view


@pytest.fixture(scope="module")
def fault_routes(app):
    """Routes that fail on purpose. Straight into the map: the session's app has served
    requests, so Flask's add_url_rule refuses."""
    from werkzeug.routing import Rule

    faults = {"/fault/403": lambda: abort(403), "/fault/500": lambda: 1 / 0,
              "/api/fault/403": lambda: abort(403),
              "/fault/403-reason": lambda: abort(403, "缴费后方可学习")}
    for path, make in faults.items():
        endpoint = "test_fault" + path.replace("/", "_")
        if endpoint not in app.view_functions:
            app.view_functions[endpoint] = _fault(make)
            app.url_map.add(Rule(path, endpoint=endpoint, methods=["GET"]))
    FAULTS["on"] = True
    yield app
    FAULTS["on"] = False


def _chinese_page(resp, code: int, words: str):
    text = page_text(resp)
    assert resp.status_code == code
    assert words in text, text[:400]
    for english in ENGLISH:
        assert english not in text


# ------------------------------------------------------------------ item 8: bad input


@pytest.mark.parametrize("url", [
    "/expertadminview/show/99999999999999999999",
    "/expertadminview/edit/99999999999999999999",
    "/expertadminview/show/9223372036854775807",
    "/files/99999999999999999999",
    "/certificates/99999999999999999999/pdf",
    "/certificates/9223372036854775807/image",
    "/training/99999999999999999999/study",
    "/transferrequestadminview/decide/99999999999999999999",
])
def test_item8_huge_ids_are_404(app, url):
    client = app.test_client()
    login_staff(client, "testadmin")
    _chinese_page(client.get(url) if "decide" not in url else client.post(url), 404 if
                  "decide" not in url else 404, "页面不存在")


@pytest.mark.parametrize("query", [
    "_oc_ExpertAdminView=password&_od_ExpertAdminView=asc",
    "_oc_ExpertAdminView=id;drop&_od_ExpertAdminView=desc",
    "_oc_ExpertAdminView=name&_od_ExpertAdminView=sideways",
    "page_ExpertAdminView=abc", "page_ExpertAdminView=1e9",
    "page_ExpertAdminView=99999999999999999999",
    "psize_ExpertAdminView=abc", "psize_ExpertAdminView=1e9", "psize_ExpertAdminView=100000",
    "_flt_0_status=%3Cscript%3E&_flt_0_prefecture=99999999999999999999",
])
def test_item8_hostile_list_parameters_are_ignored(app, make_expert, query):
    make_expert("列表参数")
    client = app.test_client()
    login_staff(client)
    resp = client.get(f"/expertadminview/list/?{query}")
    assert resp.status_code == 200
    assert "列表参数" in page_text(resp) or "_flt_" in query


def test_item8_order_column_outside_order_columns_is_ignored(app):
    """_oc_ sorted by any attribute (a user's password hash) before; now only order_columns."""
    from flask_appbuilder.models.sqla.interface import SQLAInterface

    seen = []
    original = SQLAInterface.query

    def spy(self, filters=None, order_column="", order_direction="", *args, **kwargs):
        seen.append(order_column)
        return original(self, filters, order_column, order_direction, *args, **kwargs)

    client = app.test_client()
    login_staff(client, "testadmin")
    SQLAInterface.query = spy
    try:
        assert client.get("/users/list/?_oc_StaffUserView=password"
                          "&_od_StaffUserView=asc").status_code == 200
        assert client.get("/users/list/?_oc_StaffUserView=username"
                          "&_od_StaffUserView=asc").status_code == 200
    finally:
        SQLAInterface.query = original
    assert "password" not in seen and "username" in seen


def test_item8_page_size_is_capped(app):
    from app.fab_fixes import _page_size_args

    with app.test_request_context("/?psize_V=100&psize_W=101&psize_X=abc&psize_Y=0"):
        assert _page_size_args() == {"V": 100}


def test_item8_heartbeat_with_huge_lesson_id_is_400(app, make_expert):
    client = app.test_client()
    login_expert(client, make_expert("心跳参数"))
    for body in ({"lesson_id": 10**30, "position": 1}, {"lesson_id": 1, "position": 1e300},
                 {"lesson_id": "99999999999999999999"}):
        resp = client.post("/training/1/heartbeat", json=body)
        assert resp.status_code == 400, body
        assert resp.get_json()["message"]


def test_item8_transfer_with_huge_attachment_id_is_not_a_500(app, make_expert):
    from app.extensions import db
    from app.models import Expert, ExpertStatus

    account = make_expert("异动参数", status=ExpertStatus.ADMITTED)
    with app.app_context():
        db.session.get(Expert, account.expert_id).expert_no = "XJ2099000912"
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    login_expert(client, account)
    for attachment_id in ("9" * 25, "abc", "²"):
        resp = client.post("/my/transfer", data={"to_prefecture": "1", "reason": "调动",
                                                 "attachment_id": attachment_id})
        assert resp.status_code in (200, 302), attachment_id
        assert attachment_id not in resp.get_data(as_text=True)


@pytest.mark.parametrize("name", ["b_photo_file", "b_id_front_file"])
def test_item8_wizard_draft_never_keeps_a_broken_file_id(app, make_expert, name):
    from app.extensions import db
    from app.models import ApplicationDraft, Expert
    from app.services import application as app_service

    account = make_expert("草稿照片")
    client = app.test_client()
    login_expert(client, account)
    for bad in ("abc", "99999999999999999999", "1 OR 1=1"):
        assert client.post("/application/step/1",
                           data={name: bad, "action": "save"}).status_code == 200
        assert client.get("/application/step/1").status_code == 200
    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        assert app_service.load(db.session, expert)["basic"].get(name[2:], "") == ""
        # a draft saved before this fix, with letters in it, renders too
        draft = db.session.get(ApplicationDraft, expert.id)
        draft.data = draft.data.replace(f'"{name[2:]}": ""', f'"{name[2:]}": "abc"')
        db.session.commit()
        db.session.remove()
    assert client.get("/application/step/1").status_code == 200


def test_item8_modify_with_bad_photo_id_is_not_a_500(app, make_expert):
    from app.extensions import db
    from app.models import Expert, ExpertStatus

    account = make_expert("修改照片", status=ExpertStatus.ADMITTED)
    with app.app_context():
        db.session.get(Expert, account.expert_id).expert_no = "XJ2099000913"
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    login_expert(client, account)
    for bad in ("abc", "99999999999999999999"):
        resp = client.post("/my/modify", data={"b_photo_file": bad, "b_prefecture": bad,
                                               "action": "save"})
        assert resp.status_code in (200, 302)
        assert client.get("/my/modify").status_code == 200


def test_item8_nul_in_a_parameter_is_400(app):
    client = app.test_client()
    login_staff(client)
    _chinese_page(client.get("/expertadminview/list/?_flt_0_name=a%00b"), 400, "请求有误")
    _chinese_page(client.get("/certificates/verify/JX%00"), 400, "请求有误")
    resp = client.post("/api/v1/security/login", json={"username": "a\x00", "password": "x"})
    assert resp.status_code == 400 and resp.get_json()["message"]


def test_item8_api_login_without_provider_is_400(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_API_ENABLED", True)
    resp = app.test_client().post("/api/v1/security/login",
                                  json={"username": "nobody", "password": "x"})
    assert resp.status_code == 400


def test_item8_fab_download_route_is_404(app):
    client = app.test_client()
    login_staff(client, "testadmin")
    _chinese_page(client.get("/users/download/x"), 404, "页面不存在")


# ------------------------------------------------------------------ item 10: error pages


def test_item10_404_page_is_chinese_in_the_layout(app):
    client = app.test_client()
    login_staff(client)
    resp = client.get("/no-such-page")
    _chinese_page(resp, 404, "页面不存在")
    assert 'id="error-page"' in resp.get_data(as_text=True)
    assert "测试审核员" in page_text(resp)  # the layout's navbar: the signed-in account
    anonymous = app.test_client()
    _chinese_page(anonymous.get("/no-such-page"), 404, "页面不存在")


def test_item10_403_405_413_pages_are_chinese(app, fault_routes):
    client = app.test_client()
    _chinese_page(client.get("/fault/403"), 403, "没有访问权限")
    _chinese_page(client.get("/fault/403-reason"), 403, "缴费后方可学习")  # the app's reason
    _chinese_page(client.get("/certificates/admin/round/1/issue"), 405, "操作方式不正确")
    app.config["MAX_CONTENT_LENGTH"], limit = 1024, app.config["MAX_CONTENT_LENGTH"]
    try:
        _chinese_page(client.post("/login/", data={"username": "x" * 4096}), 413, "内容过大")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit


def test_item10_500_page_is_chinese_and_self_contained(app, fault_routes):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        resp = app.test_client().get("/fault/500")
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = None
    _chinese_page(resp, 500, "系统出错")
    html = resp.get_data(as_text=True)
    assert "ZeroDivisionError" not in html and "division" not in html
    assert "navbar" not in html  # no layout: it must not need the database


def test_item10_json_errors_are_a_chinese_message(app, fault_routes):
    client = app.test_client()
    resp = client.get("/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.get_json() == {"message": "您访问的页面不存在或已被删除。"}
    resp = client.get("/api/fault/403")
    assert resp.status_code == 403 and resp.get_json()["message"] == "您没有访问此页面的权限。"
    resp = client.post("/expertadminview/no-such", json={"a": 1})
    assert resp.status_code == 404 and re.search("[\u4e00-\u9fff]", resp.get_json()["message"])


def test_item10_error_pages_have_english(app):
    """Every title and message of the error pages is in the English catalogue."""
    from babel.messages.pofile import read_po

    from app.errors import PAGES

    with open(app.root_path + "/../translations/en/LC_MESSAGES/messages.po", "rb") as fh:
        catalog = read_po(fh)
    for title, message in PAGES.values():
        for text in (title, message):
            assert catalog.get(text) is not None and catalog.get(text).string, text
    client = app.test_client()
    client.get("/lang/en")
    assert "Page not found" in page_text(client.get("/no-such-page"))


def test_a_refusal_without_a_page_to_go_back_to_is_the_error_page_not_a_loop(app):
    """DomainError's one handler: with no Referer of ours (a bookmarked link, a POST from a
    browser that sends none) the message is shown on the error page with the refusal's
    status, never a redirect to the same URL (a loop) or to a POST-only route (405)."""
    from app.errors import domain_error_response
    from app.services.errors import Conflict

    def answer(method, **headers):
        with app.test_request_context("/certificates/admin/revoke/1", method=method,
                                      headers=headers):
            return app.make_response(domain_error_response(Conflict("该证书已撤销")))

    for method in ("GET", "POST"):
        resp = answer(method)
        assert resp.status_code == 409
        assert "该证书已撤销" in resp.get_data(as_text=True)
    same = answer("GET", Referer="http://localhost/certificates/admin/revoke/1")
    assert same.status_code == 409  # its own page would refuse again
    # from another page of ours: back to it, the message flashed
    back = answer("POST", Referer="http://localhost/expert/")
    assert back.status_code == 302 and back.headers["Location"].endswith("/expert/")
