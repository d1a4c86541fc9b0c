"""Menus per role: each role's menu shows its own screens only, and every item of every
role's menu opens a page (no error page, no 403/404/500). The browser twin is
tests/browser/test_menus_flow.py."""
from __future__ import annotations

import re

import pytest

from app.models import ExpertStatus
from app.services.roles import ROLE_AUDITOR
from tests.conftest import STAFF_PASSWORD, login, login_expert, login_staff

EXPERT_ONLY = ("专家管理系统", "专家入库申请", "我的培训", "专家证书")
STAFF_ONLY = ("专家列表", "待审核申请", "培训批次", "审计日志", "用户列表")


def navbar(html: str) -> str:
    start = html.find('class="nav navbar-nav"')
    end = html.find("navbar-right", start)
    assert start >= 0 and end > start, "no navbar"
    return html[start:end]


def menu_items(client) -> list[tuple[str, str]]:
    """(href, text) of every link of the signed-in account's menu, from its home page."""
    html = client.get("/", follow_redirects=True).get_data(as_text=True)
    items = []
    for href, text in re.findall(r'<a[^>]*href="([^"#][^"]*)"[^>]*>(.*?)</a>', navbar(html), re.S):
        items.append((href, re.sub(r"<[^>]+>|&nbsp;|\s+", " ", text).strip()))
    return items


def add_staff_user(admin, username: str, role_name: str) -> None:
    """用户列表 → 新增, as the administrator does on the screen."""
    from app.extensions import db
    from app.models import AppUser  # noqa: F401 (the model the screen writes)

    role_id = admin.application.appbuilder.sm.find_role(role_name).id
    resp = admin.post("/users/add", data={
        "first_name": "测试审计员", "username": username, "active": "y",
        "email": f"{username}@example.gov.cn", "roles": str(role_id),
        "password": STAFF_PASSWORD, "conf_password": STAFF_PASSWORD})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    db.session.remove()


def open_every_item(client, items) -> None:
    assert items
    for href, text in items:
        resp = client.get(href, follow_redirects=True)
        body = resp.get_data(as_text=True)
        assert resp.status_code == 200, (text, href, resp.status_code)
        assert 'id="error-page"' not in body, (text, href)


@pytest.fixture
def auditor(app):
    admin = app.test_client()
    login_staff(admin, "testadmin")
    with app.app_context():
        add_staff_user(admin, "testauditor", ROLE_AUDITOR)
    client = app.test_client()
    assert login(client, "testauditor", STAFF_PASSWORD, "staff").status_code == 302
    return client


@pytest.mark.parametrize("username", ["testadmin", "testreviewer"])
def test_staff_menu_has_no_expert_screens_and_every_item_opens(app, username):
    client = app.test_client()
    login_staff(client, username)
    items = menu_items(client)
    texts = " ".join(text for _, text in items)
    for name in EXPERT_ONLY:
        assert name not in texts, (username, name)
    assert "专家列表" in texts
    open_every_item(client, items)


def test_admin_menu_has_the_account_tasks_under_system_management(app):
    client = app.test_client()
    login_staff(client, "testadmin")
    html = navbar(client.get("/", follow_redirects=True).get_data(as_text=True))
    tail = html[html.rfind("系统管理"):]
    for name in ("用户列表", "角色列表", "审计日志", "锁定账号"):
        assert name in tail, name
    assert "Security" not in html and "基础权限" not in html


def test_auditor_menu_is_the_audit_log(app, auditor):
    items = menu_items(auditor)
    texts = [text for _, text in items]
    assert texts and all(name not in " ".join(texts) for name in EXPERT_ONLY + ("专家列表",))
    assert "审计日志" in texts
    open_every_item(auditor, items)


def test_expert_menu_has_no_staff_screens_and_every_item_opens(app, make_expert):
    account = make_expert("菜单专家", status=ExpertStatus.ADMITTED)
    client = app.test_client()
    login_expert(client, account)
    items = menu_items(client)
    texts = " ".join(text for _, text in items)
    for name in STAFF_ONLY:
        assert name not in texts, name
    assert "专家管理系统" in texts
    open_every_item(client, items)
