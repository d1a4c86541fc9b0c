"""Every item of every role's menu, clicked in a browser; role edits that survive
`flask sync-roles`. The accounts are made the way the department makes them: the first
administrator with `flask create-admin`, the others on 系统管理 → 用户列表 → 新增."""
from __future__ import annotations

import itertools
import os

import pytest
from playwright.sync_api import expect

from app.models import ExpertStatus
from tests.browser.conftest import shot
from tests.conftest import EXPERT_PASSWORD, STAFF_PASSWORD

pytestmark = pytest.mark.browser

EXPERT_ONLY = ("专家管理系统", "专家入库申请", "我的培训", "专家证书")
_serial = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 10000}{next(_serial)}"


def create_admin(app) -> str:
    username = unique("menuadmin")
    result = app.test_cli_runner().invoke(args=[
        "create-admin", "--username", username, "--name", "菜单管理员",
        "--email", f"{username}@example.gov.cn", "--password", STAFF_PASSWORD])
    assert result.exit_code == 0, result.output
    return username


def sign_in(page, live_server, username: str, password: str, kind: str) -> None:
    page.goto(f"{live_server}/login/")
    page.click(f"text={kind}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button:has-text('登录')")
    page.wait_for_url(lambda url: "/login" not in url)


def sign_out(page) -> None:
    page.click("#user-menu")
    page.click("button:has-text('退出登录')")
    page.wait_for_url("**/login/**")


def pick_select2(page, field_id: str, text: str) -> None:
    """Choose ``text`` in FAB's select2 box of ``field_id``, typing as a person does."""
    page.click(f"#s2id_{field_id}, #{field_id} + .select2 .select2-selection")
    page.keyboard.type(text)
    option = page.locator(".select2-results__option", has_text=text).first
    expect(option).to_be_visible()
    option.click()


def add_user(page, live_server, username: str, name: str, role: str) -> None:
    page.goto(f"{live_server}/users/list/")
    page.click("a:has-text('新增'), a[href*='/users/add']")
    page.wait_for_url("**/users/add**")
    page.fill("#first_name", name)
    page.fill("#username", username)
    page.fill("#email", f"{username}@example.gov.cn")
    pick_select2(page, "roles", role)
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#conf_password", STAFF_PASSWORD)
    page.click("button[type=submit]:has-text('保存')")
    expect(page.locator("body")).to_contain_text(username)


def menu_links(page) -> list[tuple[str, str]]:
    """(text, href) of every item of the navbar's menu (dropdown items included)."""
    links = page.locator(".navbar-nav:not(.navbar-right) a[href]:not([href='#'])")
    return [(links.nth(i).inner_text().strip(), links.nth(i).get_attribute("href"))
            for i in range(links.count())]


def click_every_item(page, live_server, role: str) -> list[str]:
    """Opens each menu item by clicking it (its dropdown first): no error page anywhere."""
    page.goto(f"{live_server}/")
    items = menu_links(page)
    assert items, role
    for text, href in items:
        page.goto(f"{live_server}/")
        link = page.locator(f".navbar-nav:not(.navbar-right) a[href='{href}']").first
        if not link.is_visible():
            dropdown = page.locator(".navbar-nav:not(.navbar-right) li.dropdown",
                                    has=page.locator(f"a[href='{href}']"))
            dropdown.locator("a.dropdown-toggle").click()
        with page.expect_navigation():
            link.click()
        assert page.locator("#error-page").count() == 0, (role, text, href)
        body = page.inner_text("body")
        assert "Not Found" not in body and "Forbidden" not in body, (role, text, href)
    shot(page, f"menus-{role}")
    return [text for text, _ in items]


def test_every_menu_item_of_every_role_opens(page, live_server, app, make_expert):
    admin = create_admin(app)
    reviewer, auditor = unique("menurev"), unique("menuaud")
    sign_in(page, live_server, admin, STAFF_PASSWORD, "管理人员")
    add_user(page, live_server, reviewer, "菜单审核员", "审核人员")
    add_user(page, live_server, auditor, "菜单审计员", "审计员")
    page.goto(f"{live_server}/users/list/")
    row = page.locator("table tr", has_text=auditor)
    expect(row).to_contain_text("审计员")
    assert "[" not in row.inner_text()
    shot(page, "menus-users-list")

    texts = click_every_item(page, live_server, "admin")
    assert not set(EXPERT_ONLY) & set(texts)
    for name in ("用户列表", "角色列表", "审计日志", "锁定账号"):
        assert name in texts
    sign_out(page)

    sign_in(page, live_server, reviewer, STAFF_PASSWORD, "管理人员")
    texts = click_every_item(page, live_server, "reviewer")
    assert "专家列表" in texts and "用户列表" not in texts
    assert not set(EXPERT_ONLY) & set(texts)
    sign_out(page)

    sign_in(page, live_server, auditor, STAFF_PASSWORD, "管理人员")
    texts = click_every_item(page, live_server, "auditor")
    assert "审计日志" in texts and "专家列表" not in texts
    sign_out(page)

    expert = make_expert("菜单浏览器专家", status=ExpertStatus.ADMITTED)
    sign_in(page, live_server, expert.username, EXPERT_PASSWORD, "专家")
    texts = click_every_item(page, live_server, "expert")
    assert "专家管理系统" in texts and "专家列表" not in texts


def test_a_role_grant_made_on_the_screen_survives_sync_roles(page, live_server, app):
    from app.extensions import db
    from app.services.roles import ROLE_AUDITOR

    admin = create_admin(app)
    sign_in(page, live_server, admin, STAFF_PASSWORD, "管理人员")
    page.goto(f"{live_server}/roles/list/")
    page.locator("table tr", has_text=ROLE_AUDITOR).locator("a[href*='/roles/edit/']").click()
    page.wait_for_url("**/roles/edit/**")
    pick_select2(page, "permissions", "专家列表：查看详情")
    shot(page, "roles-grant")
    page.click("button[type=submit]:has-text('保存')")
    page.wait_for_url(lambda url: "/roles/edit/" not in url)
    try:
        result = app.test_cli_runner().invoke(args=["sync-roles"])
        assert result.exit_code == 0, result.output
        page.goto(f"{live_server}/roles/list/")
        page.locator("table tr", has_text=ROLE_AUDITOR).locator("a[href*='/roles/show/']").click()
        expect(page.locator("body")).to_contain_text("专家列表：查看详情")
        expect(page.locator("body")).to_contain_text("审计日志：查看列表")
        assert "can show" not in page.inner_text("body")
        shot(page, "roles-after-sync")
    finally:
        with app.app_context():  # the next tests' 审计员 is the default one
            sm = app.appbuilder.sm
            role = sm.find_role(ROLE_AUDITOR)
            grant = sm.find_permission_view_menu("can_show", "Expert")
            if grant in role.permissions:
                role.permissions.remove(grant)
            db.session.commit()
            db.session.remove()


def test_the_admin_navbar_stays_on_two_rows_in_english_at_1280(page, live_server, app):
    admin = create_admin(app)
    sign_in(page, live_server, admin, STAFF_PASSWORD, "管理人员")
    for lang in ("en", "zh"):
        page.goto(f"{live_server}/lang/{lang}")
        page.goto(f"{live_server}/users/list/")
        rows = page.evaluate("""() => {
            const tops = new Set();
            document.querySelectorAll('.navbar-nav > li').forEach(li => {
                if (li.offsetParent) tops.add(Math.round(li.getBoundingClientRect().top));
            });
            return tops.size;
        }""")
        brand = page.locator(".navbar-brand").bounding_box()
        menu = page.locator(".navbar-nav:not(.navbar-right)").bounding_box()
        shot(page, f"navbar-1280-{lang}")
        # the brand's row and one row of menu categories (the right-hand menu beside them)
        assert rows <= 2 and menu["y"] < brand["y"] + brand["height"] + 60, (lang, rows)
    body = page.inner_text(".navbar")
    assert "系统管理" in body
