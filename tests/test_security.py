"""Sessions, lockout, captcha, headers and the audit trail (issue #3)."""
import datetime as dt
import json

import pytest
from sqlalchemy import text

from app.services import access, login_guard, sessions, unit_of_work
from tests.conftest import EXPERT_PASSWORD, login, login_expert, login_staff, page_text, redis_available

FAILED = "账号或密码错误"


def _reset_throttle(app):
    from app.extensions import db
    from app.models import LoginThrottle

    with app.app_context():
        db.session.query(LoginThrottle).delete()
        db.session.commit()
        db.session.remove()


@pytest.fixture(autouse=True)
def clean_throttle(app):
    _reset_throttle(app)
    yield
    _reset_throttle(app)


def _audit(app, **filters):
    from app.extensions import db
    from app.models import AuditEvent

    with app.app_context():
        rows = db.session.query(AuditEvent).filter_by(**filters).order_by(AuditEvent.id).all()
        out = [(r.action, r.actor_name, r.object_id, r.detail, r.ip, r.before, r.after)
               for r in rows]
        db.session.remove()
    return out


# ---------------------------------------------------------------- sessions

def test_replayed_cookie_after_logout_is_refused(app, make_expert):
    account = make_expert()
    client = app.test_client()
    login_expert(client, account)
    assert client.get("/expert/").status_code == 200
    saved = client.get_cookie("session").value
    client.post("/logout/")
    thief = app.test_client()
    thief.set_cookie("session", saved)
    resp = thief.get("/expert/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_password_change_ends_other_sessions(app, make_expert):
    account = make_expert()
    office, home = app.test_client(), app.test_client()
    login_expert(office, account)
    login_expert(home, account)
    resp = office.post("/account/password", data={
        "current_password": EXPERT_PASSWORD, "new_password": "Kunlun2025x",
        "confirm_password": "Kunlun2025x"})
    assert resp.status_code == 302
    assert office.get("/expert/").status_code == 200  # the browser that changed it goes on
    assert home.get("/expert/").status_code == 302  # the other one is signed out


def _age_sessions(app, user_id, idle=None, created=None):
    from app.extensions import db
    from app.models import UserSession, utcnow

    with app.app_context():
        for row in db.session.query(UserSession).filter_by(user_id=user_id, ended_at=None):
            if idle:
                row.last_seen_at = utcnow() - idle
            if created:
                row.created_at = utcnow() - created
        db.session.commit()
        db.session.remove()


def test_idle_timeout_of_thirty_minutes(app, make_expert):
    account = make_expert()
    client = app.test_client()
    login_expert(client, account)
    _age_sessions(app, account.user_id, idle=dt.timedelta(minutes=29))
    assert client.get("/expert/").status_code == 200
    _age_sessions(app, account.user_id, idle=dt.timedelta(minutes=31))
    resp = client.get("/expert/")
    assert resp.status_code == 302
    assert "30分钟未操作" in page_text(client.get("/login/"))


def test_absolute_timeout_of_twelve_hours(app, make_expert):
    account = make_expert()
    client = app.test_client()
    login_expert(client, account)
    _age_sessions(app, account.user_id, created=dt.timedelta(hours=11, minutes=59))
    assert client.get("/expert/").status_code == 200
    _age_sessions(app, account.user_id, created=dt.timedelta(hours=12, minutes=1))
    assert client.get("/expert/").status_code == 302


def test_session_rules_with_a_controlled_clock(app):
    from app.extensions import db

    t0 = dt.datetime(2025, 5, 23, 8, 0)
    with app.app_context():
        token = sessions.start(db.session, 1, "10.0.0.1", t0)
        assert access.check_session(db.session, token, 1, t0 + dt.timedelta(minutes=20)) is None
        assert access.check_session(db.session, token, 2, t0) is not None  # someone else's token
        assert access.check_session(db.session, token, 1, t0 + dt.timedelta(minutes=49)) is None
        assert "30分钟" in access.check_session(db.session, token, 1, t0 + dt.timedelta(minutes=80))
        assert access.check_session(db.session, token, 1, t0 + dt.timedelta(minutes=81)) is not None
        db.session.remove()


# ---------------------------------------------------------------- lockout and captcha

def captcha_answer(app, client):
    """What a person reads off the image: the answer is kept on the server (the cookie
    holds only its id), so the test looks it up there without using it up."""
    with client.session_transaction() as s:
        captcha_id = s.get("captcha_id")
    if app.config.get("REDIS_URL") and captcha_id:
        import redis

        value = redis.Redis.from_url(app.config["REDIS_URL"]).get(
            f"{app.config['LOGIN_REDIS_PREFIX']}captcha:{captcha_id}")
        return value.decode() if value is not None else None
    from app.extensions import db
    from app.models import LoginCaptcha

    with app.app_context():
        row = db.session.get(LoginCaptcha, captcha_id) if captcha_id else None
        answer = row.answer if row else None
        db.session.remove()
    return answer


def attempt(client, username, password, ip="127.0.0.1"):
    """A login as a person makes it: reading and typing the captcha when one is shown."""
    client.get("/login/captcha.png", environ_base={"REMOTE_ADDR": ip})
    code = captcha_answer(client.application, client)
    return client.post("/login/?login_kind=expert", data={
        "username": username, "password": password, "login_kind": "expert", "captcha": code},
        environ_base={"REMOTE_ADDR": ip})


def test_sixth_attempt_is_refused_even_with_the_right_password(app, make_expert):
    account = make_expert("锁定甲")
    client = app.test_client()
    for _ in range(5):
        assert FAILED in page_text(attempt(client, account.username, "Wrong12345"))
    resp = attempt(client, account.username, account.password)
    assert resp.status_code == 200 and FAILED in page_text(resp)
    events = [e[0] for e in _audit(app, object_id=account.username)]
    assert "账号锁定" in events and events.count("登录失败") >= 6


@pytest.fixture
def api_on(app):
    """The JWT API is off by default (it answers 404); these tests turn it on."""
    app.config["LOGIN_API_ENABLED"] = True
    yield
    app.config["LOGIN_API_ENABLED"] = False


def api_login(api, username, password, **extra):
    """The API login as a client makes it, answering the captcha (X-Captcha-Id) each time."""
    captcha_id = api.get("/login/captcha.png").headers["X-Captcha-Id"]
    return api.post("/api/v1/security/login", json={
        "username": username, "password": password, "provider": "db", "captcha_id": captcha_id,
        "captcha": captcha_answer(api.application, api), **extra})


def test_lockout_holds_on_the_api_login_too(app, make_expert, api_on):
    account = make_expert("锁定乙")
    api = app.test_client()
    for _ in range(5):
        resp = api_login(api, account.username, "Wrong12345")
        assert resp.status_code == 401
    resp = api_login(api, account.username, account.password)
    assert resp.status_code == 401
    # and the web form is locked for that account as well (from another address)
    resp = attempt(app.test_client(), account.username, account.password, ip="10.9.9.9")
    assert resp.status_code == 200 and FAILED in page_text(resp)


def test_lock_runs_out_after_fifteen_minutes(app):
    from app.extensions import db

    policy = login_guard.Policy()
    t0 = dt.datetime(2025, 5, 23, 8, 0)
    with app.app_context():
        store = login_guard.DatabaseThrottleStore(db.session)
        for i in range(5):
            locked = login_guard.register_failure(store, "clock", "10.1.1.1", t0, policy)
            assert locked == (i == 4)
        assert login_guard.is_locked(store, "clock", t0 + dt.timedelta(minutes=14))
        assert not login_guard.is_locked(store, "clock", t0 + dt.timedelta(minutes=16))
        login_guard.register_success(store, "clock")
        db.session.remove()


def test_unknown_account_wrong_password_and_locked_look_the_same(app, make_expert):
    account = make_expert("同样提示")
    texts = []
    for username in ("no-such-account", account.username):
        texts.append(page_text(login(app.test_client(), username, "Wrong12345")))
    assert all(FAILED in t for t in texts)


def test_captcha_after_three_failures(app, make_expert):
    account = make_expert("验证码")
    client = app.test_client()
    for _ in range(2):
        assert "验证码" not in page_text(login(client, account.username, "Wrong12345"))
    resp = login(client, account.username, "Wrong12345")
    assert 'id="captcha-image"' in resp.get_data(True)
    image = client.get("/login/captcha.png")
    assert image.mimetype == "image/png" and image.data[:8] == b"\x89PNG\r\n\x1a\n"
    # right password but no captcha: asked for it, not signed in, and nothing counted
    resp = login(client, account.username, account.password)
    assert "请输入验证码" in page_text(resp)
    client.get("/login/captcha.png")
    resp = client.post("/login/?login_kind=expert", data={
        "username": account.username, "password": account.password, "login_kind": "expert",
        "captcha": "ZZZZ"})
    assert "验证码错误" in page_text(resp)
    client.get("/login/captcha.png")
    code = captcha_answer(app, client)
    resp = client.post("/login/?login_kind=expert", data={
        "username": account.username, "password": account.password, "login_kind": "expert",
        "captcha": code.lower()})
    assert resp.status_code == 302


@pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")
def test_redis_store_shares_counters():
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=1)
    prefix = f"test-login-{dt.datetime.now().timestamp()}:"
    one, two = (login_guard.RedisThrottleStore(client, prefix) for _ in range(2))
    policy, t0 = login_guard.Policy(), dt.datetime(2025, 5, 23, 8, 0)
    for _ in range(3):
        login_guard.register_failure(one, "r", "10.2.2.2", t0, policy)
    for _ in range(2):
        login_guard.register_failure(two, "r", "10.2.2.3", t0, policy)
    assert login_guard.is_locked(one, "r", t0)  # 5 across both "workers"
    assert not login_guard.is_locked(one, "r", t0 + dt.timedelta(minutes=16))
    login_guard.register_success(one, "r")
    assert two.get(login_guard.account_key("r")).failures == 0


# ---------------------------------------------------------------- headers

def test_security_headers(app, make_expert):
    client = app.test_client()
    login_expert(client, make_expert())
    resp = client.get("/expert/")
    csp = resp.headers["Content-Security-Policy"]
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert "frame-ancestors 'none'" in csp and "script-src 'self' 'nonce-" in csp
    html = resp.get_data(True)
    scripts = html.count("<script")
    assert scripts > 0 and html.count(f'nonce="{nonce}"') == scripts
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in resp.headers
    secure = client.get("/login/", base_url="https://localhost")
    assert "max-age" in secure.headers["Strict-Transport-Security"]
    static = client.get("/static/app.css")
    assert static.headers.get("Cache-Control") != "no-store"


# ---------------------------------------------------------------- audit trail

def test_audit_records_logins_exports_and_personal_data_views(app, make_expert):
    account = make_expert("审计对象")
    login(app.test_client(), account.username, "Wrong12345")
    client = app.test_client()
    login_staff(client)
    client.get(f"/expertadminview/show/{account.expert_id}")
    client.get("/expertadminview/export/?_flt_0_name=审计对象")
    events = _audit(app, actor_name="testreviewer")
    actions = [e[0] for e in events]
    assert "登录成功" in actions and "查看个人信息" in actions and "导出" in actions
    assert any(e[0] == "查看个人信息" and e[2] == str(account.expert_id) for e in events)
    assert all(e[4] for e in events)  # the IP is recorded
    assert ("登录失败", account.username) in [(e[0], e[1]) for e in _audit(app)]


def test_audit_records_expert_changes_masked_and_role_changes(app, make_expert):
    account = make_expert("改前", employer="甲单位")
    client = app.test_client()
    login_staff(client, "testadmin")
    client.post(f"/expertadminview/edit/{account.expert_id}", data={
        "name": "改后", "id_number": account.id_number, "phone": account.phone,
        "employer": "乙单位", "admission_type": "续聘"})
    events = [e for e in _audit(app, object_id=str(account.expert_id)) if e[0] == "修改"]
    before, after = json.loads(events[-1][5]), json.loads(events[-1][6])
    assert before["name"] == "改前" and after["name"] == "改后"
    assert after["employer"] == "乙单位"
    assert account.id_number not in events[-1][5] + events[-1][6]

    from flask_appbuilder.security.sqla.models import Role

    from app.extensions import db

    with app.app_context():
        role = db.session.query(Role).filter_by(name="审核人员").one()
        role_id = role.id
        db.session.remove()
    resp = client.get(f"/roles/edit/{role_id}")
    assert resp.status_code == 200
    from app.services.roles import sync_roles
    with app.test_request_context():
        role = db.session.get(Role, role_id)
        removed = str(role.permissions.pop())
        db.session.commit()
        sync_roles(app.appbuilder)  # and put it back
        unit_of_work.commit(db.session)  # as flask sync-roles does
        db.session.remove()
    changes = _audit(app, action="角色权限变更", object_id="审核人员")
    assert len(changes) >= 2
    assert removed in changes[-2][5] and removed in changes[-1][6]


def test_audit_is_append_only(app):
    from app.extensions import db
    from app.models import AuditEvent

    # a row of its own (a failed login is recorded): the triggers fire per row
    login(app.test_client(), "append-only-probe", "Wrong12345")
    with app.app_context():
        for statement in ("UPDATE audit_event SET action = 'x'", "DELETE FROM audit_event"):
            with pytest.raises(Exception, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert db.session.query(AuditEvent).count() > 0
        db.session.remove()


def test_auditor_reads_the_log_and_nothing_else(app):
    from app.services.demo import create_staff_user
    from app.services.roles import ROLE_AUDITOR
    from tests.conftest import STAFF_PASSWORD

    with app.app_context():
        create_staff_user(app.appbuilder.sm, "testauditor", "测试审计员",
                          "testauditor@example.gov.cn", ROLE_AUDITOR, STAFF_PASSWORD)
        from app.extensions import db
        db.session.remove()
    client = app.test_client()
    assert login(client, "testauditor", STAFF_PASSWORD, "staff").status_code == 302
    assert client.get("/", follow_redirects=True).status_code == 200
    assert "审计日志" in page_text(client.get("/auditeventview/list/"))
    assert client.get("/auditeventview/list/?_flt_0_action=登录成功").status_code == 200
    for url in ("/expertadminview/list/", "/users/list/", "/experts/import/",
                "/auditeventview/edit/1", "/auditeventview/delete/1", "/auditeventview/add"):
        assert client.get(url).status_code in (403, 404, 405), url
    reviewer = app.test_client()
    login_staff(reviewer)
    assert reviewer.get("/auditeventview/list/").status_code == 403


def test_csrf_token_required_on_every_form(app, make_expert):
    import re as _re

    account = make_expert("令牌")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        client = app.test_client()
        page = client.get("/login/").get_data(True)
        token = _re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        resp = client.post("/login/?login_kind=expert", data={
            "username": account.username, "password": account.password,
            "login_kind": "expert", "csrf_token": token})
        assert resp.status_code == 302
        for url, data in (("/account/password", {"current_password": account.password}),
                          ("/logout/", {}),
                          ("/expertadminview/add", {"name": "伪造"})):
            resp = client.post(url, data=data)
            assert resp.status_code == 400, url
            assert "页面已过期" in page_text(resp)
        assert client.get("/expert/").status_code == 200  # still signed in: logout was refused
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_reviews_are_audited(app, make_expert):
    from app.extensions import db
    from app.models import Expert
    from app.services.expert_status import transition

    account = make_expert("审核留痕")
    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        transition(expert, "submit", actor_kind="expert", actor_id=account.user_id)
        transition(expert, "return", actor_kind="reviewer", actor_id=1, opinion="请补充学历证明")
        db.session.commit()
        db.session.remove()
    events = _audit(app, action="审核", object_id=str(account.expert_id))
    assert len(events) == 2
    assert "请补充学历证明" in events[-1][6] and "已退回" in events[-1][6]


def test_personal_data_lookups_use_an_index(app):
    from app.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("query plans checked on SQLite; PostgreSQL in bench/")
        for column in ("id_number", "phone", "expert_no"):
            plan = db.session.execute(text(
                f"EXPLAIN QUERY PLAN SELECT id FROM expert WHERE {column} = :v"), {"v": "x"}).all()
            assert "USING INDEX" in str(plan) or "USING COVERING INDEX" in str(plan), (column, plan)
        plan = db.session.execute(text(
            "EXPLAIN QUERY PLAN SELECT id FROM bank_account WHERE account_no = :v"), {"v": "x"}).all()
        assert "INDEX" in str(plan)
        db.session.remove()


def test_edit_page_with_full_personal_data_is_recorded_too(app, make_expert):
    account = make_expert("编辑留痕")
    client = app.test_client()
    login_staff(client)
    before = len(_audit(app, action="查看个人信息", object_id=str(account.expert_id)))
    page = client.get(f"/expertadminview/edit/{account.expert_id}")
    assert account.id_number in page.get_data(True)
    after = _audit(app, action="查看个人信息", object_id=str(account.expert_id))
    assert len(after) == before + 1 and after[-1][1] == "testreviewer"


def test_actor_kind_follows_roles(app):
    from app.extensions import db
    from app.services.access import actor_kind

    with app.app_context():
        sm = app.appbuilder.sm
        assert actor_kind(sm.find_user(username="testadmin")) == "admin"
        assert actor_kind(sm.find_user(username="testreviewer")) == "reviewer"
        db.session.remove()
