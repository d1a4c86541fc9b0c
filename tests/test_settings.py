"""系统设置 (issue 13, settings): the administrator changes the values on the screen; they are
stored in the database, audited with before/after and applied at once everywhere."""
from __future__ import annotations

import datetime as dt
import io
import json
import os

import pytest
from PIL import Image

from app.services import settings
from tests.conftest import login_expert, login_staff, page_text
from tests.test_certificate import _read, passed  # noqa: F401 (the fixture)
from tests.test_security import attempt

FAILED = "账号或密码错误"


def current_form(client) -> dict[str, str]:
    """What the screen shows in every input, as a person would send it back unchanged."""
    import re

    html = client.get("/settings/").get_data(as_text=True)
    return {k: v for k, v in re.findall(r'<input class="form-control" name="([A-Z_]+)" '
                                        r'id="[A-Z_]+" value="([^"]*)"', html)}


def save(client, **changes):
    data = current_form(client)
    data.update({k: str(v) for k, v in changes.items()})
    return client.post("/settings/", data=data)


def admin_client(app):
    client = app.test_client()
    login_staff(client, "testadmin")
    return client


def _audit_rows(app, key):
    from app.extensions import db
    from app.models import AuditEvent

    with app.app_context():
        rows = [(e.action, e.actor_name, json.loads(e.before), json.loads(e.after), e.detail)
                for e in db.session.query(AuditEvent).filter_by(object_type="系统设置",
                                                                 object_id=key)
                .order_by(AuditEvent.id)]
        db.session.remove()
    return rows


def _value_in(app, key):
    with app.test_request_context():
        return settings.get(key)


# ---------------------------------------------------------------- who may


def test_only_the_administrator_opens_and_saves_settings(app, make_expert):
    anonymous = app.test_client()
    for method, path in (("get", "/settings/"), ("post", "/settings/"),
                         ("get", "/settings/seal")):
        resp = getattr(anonymous, method)(path)
        assert resp.status_code in (302, 401) and "/login" in resp.headers.get("Location", "")
    reviewer = app.test_client()
    login_staff(reviewer)
    expert = app.test_client()
    login_expert(expert, make_expert("设置旁观"))
    for client in (reviewer, expert):
        for method, path in (("get", "/settings/"), ("post", "/settings/"),
                             ("get", "/settings/seal")):
            resp = getattr(client, method)(path, data={"LOGIN_MAX_FAILURES": "3"})
            assert resp.status_code in (302, 403), (method, path, resp.status_code)
        assert "锁定时长" not in page_text(client.get("/settings/", follow_redirects=True))
    assert _value_in(app, "LOGIN_MAX_FAILURES") == app.config["LOGIN_MAX_FAILURES"]
    admin = admin_client(app)
    page = admin.get("/settings/")
    assert page.status_code == 200
    text = page_text(page)
    for words in ("入库条件", "年龄上限", "专家证书", "发证机关", "证书印章", "每学时分钟数",
                  "缴费后开放学习（默认）", "上传限制", "图片大小上限", "2 MB", "10 MB",
                  "登录会话", "闲置退出", "登录保护", "锁定时长", "默认值"):
        assert words in text, words


def test_the_menu_has_the_settings_screen_for_the_administrator_only(app):
    admin = admin_client(app)
    assert 'href="/settings/"' in admin.get("/settings/").get_data(as_text=True)
    reviewer = app.test_client()
    login_staff(reviewer)
    assert 'href="/settings/"' not in reviewer.get("/").get_data(as_text=True)


# ---------------------------------------------------------------- each group applied


def test_a_lower_lock_threshold_locks_sooner_and_is_audited(app, make_expert):
    admin = admin_client(app)
    resp = save(admin, LOGIN_MAX_FAILURES=3, LOGIN_CAPTCHA_AFTER=2)
    assert resp.status_code == 302
    assert "已保存" in page_text(admin.get(resp.headers["Location"]))
    assert 'value="3"' in admin.get("/settings/").get_data(as_text=True)
    account = make_expert("三次锁定")
    client = app.test_client()
    for _ in range(3):
        attempt(client, account.username, "Wrong12345", ip="10.7.7.7")
    resp = attempt(app.test_client(), account.username, account.password, ip="10.7.7.8")
    assert resp.status_code == 200 and FAILED in page_text(resp)  # locked after 3, not 5
    rows = _audit_rows(app, "LOGIN_MAX_FAILURES")
    assert rows[-1][:4] == ("修改系统设置", "testadmin", {"锁定前允许的密码错误次数": "5"},
                            {"锁定前允许的密码错误次数": "3"})


def test_a_lower_age_limit_flags_an_older_applicant(app, make_expert):
    from app.extensions import db
    from app.models import Expert
    from app.services.application.review import rule_flags
    from app.views import review

    account = make_expert("年长申请人")
    on = dt.date(2026, 6, 1)
    with app.app_context():
        db.session.get(Expert, account.expert_id).birth_date = dt.date(1966, 1, 1)  # 60
        db.session.commit()
        db.session.remove()
    with app.test_request_context():
        expert = db.session.get(Expert, account.expert_id)
        assert rule_flags(expert, review._settings(), on)[0].ok  # 60 ≤ 70
        db.session.remove()
    admin = admin_client(app)
    assert save(admin, ADMISSION_MAX_AGE=55).status_code == 302
    with app.test_request_context():
        rules = review._settings()
        expert = db.session.get(Expert, account.expert_id)
        age = rule_flags(expert, rules, on)[0]
        db.session.remove()
    assert rules.max_age == 55 and age.rule == "年龄" and not age.ok
    assert "上限55岁" in age.detail


def test_issuer_and_minutes_per_hour_on_a_new_certificate(app, passed):  # noqa: F811
    from pypdf import PdfReader

    from app.extensions import db
    from app.models import Certificate

    admin = admin_client(app)
    resp = save(admin, CERTIFICATE_ISSUER="自治区住建厅继续教育中心",
                CERTIFICATE_MINUTES_PER_HOUR=15)
    assert resp.status_code == 302
    account = passed("学时专家")
    client = app.test_client()
    login_expert(client, account)
    assert client.get("/certificates/").status_code == 200  # issued on the first visit
    with app.app_context():
        cert = db.session.query(Certificate).filter_by(expert_id=account.expert_id).one()
        hours, pdf_name = cert.hours, cert.pdf_file.stored_name
        db.session.remove()
    assert hours == 9  # (90 + 45) minutes / 15
    text = PdfReader(io.BytesIO(_read(app, pdf_name))).pages[0].extract_text()
    text = text.replace("\n", "").replace(" ", "")
    assert "自治区住建厅继续教育中心" in text and "9学时" in text
    assert "新疆维吾尔自治区住房和城乡建设厅" not in text


def test_session_limits_apply_to_the_next_request(app, make_expert):
    from app.extensions import db
    from app.models import UserSession, utcnow

    admin = admin_client(app)
    assert save(admin, SESSION_IDLE_MINUTES=20).status_code == 302
    account = make_expert("闲置二十")
    client = app.test_client()
    login_expert(client, account)
    with app.app_context():
        for row in db.session.query(UserSession).filter_by(user_id=account.user_id,
                                                           ended_at=None):
            row.last_seen_at = utcnow() - dt.timedelta(minutes=25)
        db.session.commit()
        db.session.remove()
    client.get("/expert/")
    assert "20分钟未操作" in page_text(client.get("/login/"))


def _png(size=(40, 40), pad=0) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGBA", size, (200, 0, 0, 255))
    image.save(out, "PNG")
    return out.getvalue() + b"\0" * pad


def test_upload_limits_typed_in_words_and_applied(app, make_expert):
    from werkzeug.datastructures import FileStorage

    from app.extensions import db
    from app.services.uploads import UploadRejected
    from app.views.base import save_upload

    admin = admin_client(app)
    assert save(admin, UPLOAD_MAX_IMAGE_BYTES="300 KB").status_code == 302
    assert 'value="300 KB"' in admin.get("/settings/").get_data(as_text=True)
    assert _value_in(app, "UPLOAD_MAX_IMAGE_BYTES") == 300 * 1024
    # a photo over the new limit is refused with the limit in words, in every form
    big = io.BytesIO()
    Image.frombytes("RGB", (400, 400), os.urandom(400 * 400 * 3)).save(big, "PNG")
    assert 300 * 1024 < len(big.getvalue()) < 2 * 1024 * 1024
    with app.test_request_context():
        with pytest.raises(UploadRejected, match="不能超过 300 KB"):
            save_upload(FileStorage(io.BytesIO(big.getvalue()), "photo.png"), "photo", None)
        db.session.remove()


def test_seal_upload_png_only_and_previewed(app):
    admin = admin_client(app)
    default = admin.get("/settings/seal")
    assert default.status_code == 200 and default.mimetype == "image/jpeg"
    jpeg = io.BytesIO()
    Image.new("RGB", (20, 20)).save(jpeg, "JPEG")
    resp = admin.post("/settings/", data={**current_form(admin),
                                          "CERTIFICATE_SEAL_IMAGE": (jpeg, "seal.jpg")},
                      content_type="multipart/form-data")
    assert resp.status_code == 200 and "PNG" in page_text(resp)
    resp = admin.post("/settings/", data={**current_form(admin),
                                          "CERTIFICATE_SEAL_IMAGE": (io.BytesIO(_png()), "印章.png")},
                      content_type="multipart/form-data")
    assert resp.status_code == 302
    preview = admin.get("/settings/seal")
    assert preview.status_code == 200 and preview.mimetype == "image/png"
    assert Image.open(io.BytesIO(preview.data)).size == (40, 40)
    path = _value_in(app, "CERTIFICATE_SEAL_IMAGE")
    assert path.startswith(app.config["UPLOAD_FOLDER"])
    assert _audit_rows(app, "CERTIFICATE_SEAL_IMAGE")[-1][3]["证书印章"] != "seal.jpg"


def test_the_round_form_defaults_to_the_opening_delay_setting(app):
    admin = admin_client(app)
    assert save(admin, ROUND_OPEN_DELAY_DAYS=3).status_code == 302
    html = admin.get("/trainingroundadminview/add").get_data(as_text=True)
    assert 'id="open_delay_days"' in html and 'value="3"' in html.split('id="open_delay_days"')[1][:80]


# ---------------------------------------------------------------- errors, 恢复默认


def test_bad_values_say_why_in_chinese_keep_what_was_typed_and_save_nothing(app):
    admin = admin_client(app)
    resp = save(admin, ADMISSION_MAX_AGE="七十", LOGIN_MAX_FAILURES="999",
                UPLOAD_MAX_DOCUMENT_BYTES="10 GB", CERTIFICATE_ISSUER="",
                SESSION_IDLE_MINUTES="120", SESSION_ABSOLUTE_HOURS="1", LOGIN_LOCK_MINUTES="30")
    assert resp.status_code == 200
    text = page_text(resp)
    html = resp.get_data(as_text=True)
    assert "本次未保存任何设置" in text
    assert "年龄上限应为 30 至 100 之间的整数" in text
    assert "锁定前允许的密码错误次数应为 3 至 20 之间的整数" in text
    assert "文件大小上限请填写如 2 MB 或 500 KB" in text
    assert "请填写发证机关" in text
    assert "闲置退出时间不能长于最长登录时间" in text
    for typed in ('value="七十"', 'value="999"', 'value="10 GB"', 'value="120"'):
        assert typed in html, typed
    assert _value_in(app, "LOGIN_LOCK_MINUTES") == app.config["LOGIN_LOCK_MINUTES"]  # not saved
    assert _audit_rows(app, "LOGIN_LOCK_MINUTES") == []


@pytest.mark.parametrize("key,typed,message", [
    ("ADMISSION_MIN_WORK_YEARS", "-1", "最少工作年限应为 0 至 40 之间的整数"),
    ("CERTIFICATE_MINUTES_PER_HOUR", "0", "每学时分钟数应为 1 至 120 之间的整数"),
    ("UPLOAD_MAX_IMAGE_BYTES", "50 KB", "图片大小上限应在 100 KB 至 20 MB 之间"),
    ("LOGIN_CAPTCHA_AFTER", "10", "出现验证码前的错误次数不能多于锁定前的次数"),
    ("CERTIFICATE_ISSUER", "厅" * 61, "发证机关应为 2 至 60 个字"),
])
def test_each_range_has_its_message(app, key, typed, message):
    admin = admin_client(app)
    resp = save(admin, **{key: typed})
    assert resp.status_code == 200 and message in page_text(resp)


def test_restore_default_per_setting(app):
    from app.extensions import db
    from app.models import SystemSetting

    admin = admin_client(app)
    assert save(admin, LOGIN_LOCK_MINUTES=60, ADMISSION_MAX_AGE=65).status_code == 302
    assert _value_in(app, "LOGIN_LOCK_MINUTES") == 60
    html = admin.get("/settings/").get_data(as_text=True)
    assert 'id="reset-LOGIN_LOCK_MINUTES"' in html and 'id="reset-LOGIN_MAX_FAILURES"' not in html
    resp = admin.post("/settings/", data={**current_form(admin), "reset": "LOGIN_LOCK_MINUTES"})
    assert resp.status_code == 302
    assert "锁定时长已恢复默认" in page_text(admin.get("/settings/"))
    assert _value_in(app, "LOGIN_LOCK_MINUTES") == app.config["LOGIN_LOCK_MINUTES"]
    assert _value_in(app, "ADMISSION_MAX_AGE") == 65  # only that one
    with app.app_context():
        assert db.session.get(SystemSetting, "LOGIN_LOCK_MINUTES") is None
        db.session.remove()
    assert _audit_rows(app, "LOGIN_LOCK_MINUTES")[-1][2:] == (
        {"锁定时长": "60"}, {"锁定时长": "15"}, "锁定时长（恢复默认）")
    assert admin.post("/settings/", data={"reset": "NOT_A_SETTING"}).status_code == 400


def test_saving_unchanged_values_writes_and_audits_nothing(app):
    admin = admin_client(app)
    resp = save(admin)
    assert resp.status_code == 302
    assert "没有修改" in page_text(admin.get("/settings/"))
    assert all(_audit_rows(app, s.key) == [] for s in settings.CATALOGUE)


# ---------------------------------------------------------------- reads


def test_a_request_that_needs_no_setting_makes_no_settings_query(app, count_queries):
    client = app.test_client()
    with count_queries() as counted:
        assert client.get("/").status_code == 302  # to the login page
    assert not [s for s in counted.statements if "system_setting" in s]
    admin = admin_client(app)
    with count_queries() as counted:
        assert admin.get("/settings/").status_code == 200
    assert len([s for s in counted.statements if "system_setting" in s]) == 1


def test_the_front_rereads_the_rows_after_its_recheck(app, monkeypatch):
    from app.extensions import db
    from app.models import SystemSetting

    settings.forget_front_cache()
    assert settings.front_config(app)["SESSION_IDLE_MINUTES"] == app.config["SESSION_IDLE_MINUTES"]
    with app.app_context():
        db.session.add(SystemSetting(key="SESSION_IDLE_MINUTES", value="7"))
        db.session.commit()
        db.session.remove()
    clock = [1000.0]
    monkeypatch.setattr(settings.time, "monotonic", lambda: clock[0])
    settings.forget_front_cache()
    assert settings.front_config(app)["SESSION_IDLE_MINUTES"] == 7
    settings.forget_front_cache()


@pytest.mark.commits  # a second app over the same database sees the first one's commit
def test_a_second_app_instance_applies_the_change_at_once(app, make_expert, tmp_path):
    from app import create_app
    from app.extensions import db
    from app.models import SystemSetting

    second = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"], "WTF_CSRF_ENABLED": False,
        "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "SERVER_NAME": None})
    try:
        assert _value_in(second, "ADMISSION_MAX_AGE") == 70
        admin = admin_client(app)
        assert save(admin, ADMISSION_MAX_AGE=55, LOGIN_MAX_FAILURES=3,
                    LOGIN_CAPTCHA_AFTER=3).status_code == 302
        assert _value_in(second, "ADMISSION_MAX_AGE") == 55  # no restart, no wait
        account = make_expert("另一实例")
        client = second.test_client()
        for _ in range(3):
            attempt(client, account.username, "Wrong12345", ip="10.9.9.9")
        resp = attempt(second.test_client(), account.username, account.password, ip="10.9.9.8")
        assert resp.status_code == 200 and FAILED in page_text(resp)
    finally:
        with app.app_context():
            db.session.query(SystemSetting).delete()
            db.session.commit()
            db.session.remove()
        with second.app_context():
            db.session.remove()
            db.engine.dispose()

