"""Roles: an expert reaches no staff screen; a reviewer no user/role administration."""
import re

import pytest

from app.services.roles import ROLE_ADMIN, ROLE_EXPERT, ROLE_REVIEWER
from tests.conftest import login_expert, login_staff

# Endpoints an expert may reach; everything else must answer 403/404/405 (or send to login).
EXPERT_ENDPOINTS = {
    "static", "appbuilder.static", "HomeIndexView.index", "LoginView.login", "LoginView.logout",
    "LoginView.captcha", "favicon",
    "LocaleView.index", "AccountView.change_password", "MyProfileView.profile",
    "UtilView.back", "MenuApi.get_menu_data",
    # the JWT login API answers anyone (400 without credentials); issue #3 adds its lockout
    "SecurityApi.login", "SecurityApi.refresh",
}
REFUSED = {302, 401, 403, 404, 405}


def _urls(app, pk: int):
    """Every GET route of the app, ids and names filled with a real expert's."""
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods and "POST" not in rule.methods:
            continue
        url = rule.rule
        url = re.sub(r"<(int:)?pk>", str(pk), url)
        url = re.sub(r"<(path:)?filename>", "x.pdf", url)
        url = re.sub(r"<[^>]+>", "1", url)
        yield rule.endpoint, url


def test_expert_gets_no_staff_route(app, make_expert):
    victim = make_expert("被访问")
    account = make_expert("越权者")
    client = app.test_client()
    login_expert(client, account)
    checked = 0
    for endpoint, url in _urls(app, victim.expert_id):
        if endpoint in EXPERT_ENDPOINTS:
            continue
        for method in ("get", "post"):
            # a POST carries what an action or a form would: the victim's id
            data = {"action": "muldelete", "rowid": str(victim.expert_id), "name": "改掉"}
            resp = client.get(url) if method == "get" else client.post(url, data=data)
            if resp.status_code == 302:
                # only ever back to login or home: never a page of someone else
                assert "/login" in resp.headers["Location"] or resp.headers["Location"].endswith("/")
            else:
                assert resp.status_code in REFUSED, (method, url, resp.status_code)
            checked += 1
    assert checked > 100
    # and nothing was changed through a POST
    client2 = app.test_client()
    login_staff(client2)
    assert "被访问" in client2.get(f"/expertadminview/show/{victim.expert_id}").get_data(True)


@pytest.mark.parametrize("url", ["/users/list/", "/roles/list/", "/permissions/list/",
                                 "/viewmenus/list/", "/permissionviews/list/"])
def test_reviewer_has_no_user_or_role_administration(app, url):
    client = app.test_client()
    login_staff(client, "testreviewer")
    assert client.get(url).status_code in (403, 404)
    admin = app.test_client()
    login_staff(admin, "testadmin")
    assert admin.get(url).status_code == 200


def test_reviewer_sees_experts_and_reference_lists(app, make_expert):
    make_expert()
    client = app.test_client()
    login_staff(client)
    for url in ("/expertadminview/list/", "/prefectureadminview/list/",
                "/specialtyadminview/list/", "/experts/import/"):
        assert client.get(url).status_code == 200, url


def test_roles_are_synced_from_code_and_idempotent(app):
    from app.extensions import db
    from app.services.roles import sync_roles

    with app.app_context():
        first = sync_roles(app.appbuilder)
        second = sync_roles(app.appbuilder)
        db.session.remove()
    assert first == second
    assert first[ROLE_ADMIN] > first[ROLE_REVIEWER] > first[ROLE_EXPERT] > 0
