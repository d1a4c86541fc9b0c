"""Roles: an expert reaches no staff screen; a reviewer no user/role administration."""
import re
from urllib.parse import urlsplit

import pytest
from flask import url_for

from app.services.roles import ROLE_ADMIN, ROLE_EXPERT, ROLE_REVIEWER
from tests.conftest import login_expert, login_staff

# Endpoints an expert may reach; everything else must answer 403/404/405 (or send to login).
EXPERT_ENDPOINTS = {
    "static", "appbuilder.static", "HomeIndexView.index", "LoginView.login", "LoginView.logout",
    "LoginView.captcha", "favicon",
    "LocaleView.index", "AccountView.change_password", "MyProfileView.profile",
    "UtilView.back", "MenuApi.get_menu_data",
    # the expert's own application: no object id in these routes, own_expert() only
    "ApplicationView.start", "ApplicationView.step", "ApplicationView.form_pdf",
    "MyTrainingView.index",
    # 个人信息变更 and 个人中心: no object id in these routes either, own_expert() / the account
    "MyChangesView.info_pdf", "MyChangesView.transfer", "MyChangesView.withdraw_transfer",
    "MyChangesView.modify", "MyChangesView.withdraw_specialty", "AccountView.center",
    "MyCertificateView.index",
    # the JWT login API answers anyone (400 without credentials); issue #3 adds its lockout
    "SecurityApi.login", "SecurityApi.refresh",
}
REFUSED = {302, 401, 403, 404, 405}
# Where a refused expert may be sent, and nowhere else (the path of the Location).
ALLOWED_REDIRECTS = {
    "/": "home: HomeIndexView sends an expert on to their own 专家管理系统",
    "/login/": "the login page",
}


def _victim_objects(app, victim):
    """Rows of every kind that belong to the victim: an education row, a file, an attachment."""
    import datetime as dt

    from app.extensions import db
    from app.models import (
        Attachment,
        Certificate,
        Course,
        Education,
        Enrollment,
        Expert,
        TrainingRound,
        utcnow,
    )
    from app.services import uploads
    from tests.test_uploads import pdf

    with app.app_context():
        expert = db.session.get(Expert, victim.expert_id)
        stored = uploads.store(db.session, owner_id=victim.user_id, kind_name="attachment",
                               filename="受害者.pdf", data=pdf(),
                               upload_dir=app.config["UPLOAD_FOLDER"])
        education = Education(school="新疆大学")
        attachment = Attachment(title="私密", file=stored)
        expert.educations.append(education)
        expert.attachments.append(attachment)
        rnd = TrainingRound(name=f"越权测试{expert.id}", enroll_start=utcnow(), active=False,
                            admission_batches="越权测试", enroll_end=utcnow() + dt.timedelta(days=9),
                            fee_fen=100)
        enrollment = Enrollment(expert=expert, course=Course(round=rnd, name="课程"))
        db.session.add(enrollment)
        certificate = Certificate(number=f"JX2099-VICT-{expert.id:04d}", expert=expert, round=rnd,
                                  holder_name=expert.name, expert_no="XJ2099000001",
                                  id_number_masked="650***********0000", round_name=rnd.name,
                                  issued_on=dt.date(2025, 1, 1), pdf_file=stored, png_file=stored)
        db.session.add(certificate)
        db.session.commit()
        ids = {"expert": expert.id, "file": stored.id, "education": education.id,
               "attachment": attachment.id, "enrollment": enrollment.id,
               "certificate": certificate.id}
        db.session.remove()
    return ids


def _urls(app, ids):
    """Every route of the app, once per victim object, its ids and names filled in."""
    for rule in app.url_map.iter_rules():
        if not rule.arguments:
            yield rule.endpoint, rule.rule
            continue
        for value in sorted(set(ids.values())):
            url = rule.rule
            url = re.sub(r"<(int:)?file_id>", str(ids["file"]), url)
            url = re.sub(r"<(int:)?pk>", str(value), url)
            url = re.sub(r"<(path:|string:)?filename>", "x.pdf", url)
            url = re.sub(r"<[^>]+>", str(value), url)
            yield rule.endpoint, url


def test_no_route_serves_another_experts_object(app, make_expert):
    """Walks app.url_map: every page, action, download and API, with the victim's ids.
    A new route that forgets the ownership rule (or the staff-only permission) fails here."""
    victim = make_expert("被访问")
    ids = _victim_objects(app, victim)
    account = make_expert("越权者")
    client = app.test_client()
    login_expert(client, account)
    checked = 0
    for endpoint, url in _urls(app, ids):
        if endpoint in EXPERT_ENDPOINTS:
            continue
        for method in ("get", "post"):
            # a POST carries what an action or a form would: the victim's ids
            data = {"action": "muldelete", "rowid": str(ids["expert"]), "name": "改掉",
                    "expert": str(ids["expert"])}
            resp = client.get(url) if method == "get" else client.post(url, data=data)
            if resp.status_code == 302:
                # only ever back to login or home: never a page of someone else
                assert "/login" in resp.headers["Location"] or resp.headers["Location"].endswith("/")
                target = urlsplit(resp.headers["Location"])
                assert target.netloc in ("", "localhost"), (method, url, target)
                assert target.path in ALLOWED_REDIRECTS, (method, url, target)
            else:
                assert resp.status_code in REFUSED, (method, url, resp.status_code)
                assert b"%PDF" not in resp.data
            checked += 1
    assert checked > 300
    # and home, where refusals send an expert, is the expert's own page
    with app.test_request_context():
        own_page = url_for("MyProfileView.profile")
    assert urlsplit(client.get("/").headers["Location"]).path == own_page
    # and nothing was changed through a POST
    staff = app.test_client()
    login_staff(staff)
    page = staff.get(f"/expertadminview/show/{victim.expert_id}").get_data(True)
    assert "被访问" in page and "改掉" not in page
    assert staff.get(f"/files/{ids['file']}").status_code == 200


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


def _permission_names(role) -> set[tuple[str, str]]:
    return {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}


def test_sync_roles_keeps_what_staff_granted_and_adds_what_is_missing(app):
    """A grant made on the 角色列表 screen survives `flask sync-roles`; a default taken
    away is given back; the admin holds none of the expert's own screens."""
    from app.extensions import db
    from app.services.roles import ROLE_AUDITOR, expert_only_names, sync_roles

    with app.app_context():
        sm = app.appbuilder.sm
        sync_roles(app.appbuilder)
        auditor = sm.find_role(ROLE_AUDITOR)
        granted = sm.find_permission_view_menu("can_list", "Expert")
        assert granted not in auditor.permissions
        auditor.permissions.append(granted)
        own = sm.find_permission_view_menu("can_list", "AuditEvent")
        auditor.permissions.remove(own)
        db.session.commit()
        sync_roles(app.appbuilder)
        db.session.commit()
        held = _permission_names(sm.find_role(ROLE_AUDITOR))
        assert ("can_list", "Expert") in held
        assert ("can_list", "AuditEvent") in held
        admin = _permission_names(sm.find_role(ROLE_ADMIN))
        expert_only = expert_only_names(app.appbuilder)
        assert ("can_profile", "MyProfile") in expert_only
        assert ("menu_access", "专家管理系统") in expert_only
        assert not admin & expert_only
        assert ("can_list", "LockedAccount") in admin
        assert expert_only <= _permission_names(sm.find_role(ROLE_EXPERT))
        db.session.remove()


def test_sync_roles_command_keeps_a_grant(app):
    """The CLI itself (`flask sync-roles`), as an operator runs it."""
    from app.extensions import db
    from app.services.roles import ROLE_AUDITOR

    with app.app_context():
        sm = app.appbuilder.sm
        auditor = sm.find_role(ROLE_AUDITOR)
        auditor.permissions.append(sm.find_permission_view_menu("can_show", "Expert"))
        db.session.commit()
        db.session.remove()
    result = app.test_cli_runner().invoke(args=["sync-roles"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        held = _permission_names(app.appbuilder.sm.find_role(ROLE_AUDITOR))
        db.session.remove()
    assert ("can_show", "Expert") in held
