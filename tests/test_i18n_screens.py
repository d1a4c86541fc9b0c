"""Every screen of every role, in Chinese, has no English left on it (FAB's widgets,
labels, help texts and buttons included), and in English no Chinese of ours.

Walks every GET route without arguments of app.url_map (and the 用户 / 角色 screens of one
row) as 管理员, 审核人员, 审计员 and 专家, reads the visible text and the placeholder /
title / alt attributes, and looks for Latin words outside a short list of names that are
English in Chinese text too (Excel, PDF, IP ...)."""
from __future__ import annotations

import html as htmllib
import re

import pytest

from app.models import ExpertStatus
from app.services.roles import ROLE_AUDITOR
from tests.conftest import STAFF_PASSWORD, login, login_expert, login_staff

# Written in Latin letters in Chinese software too.
ALLOWED = {"Excel", "PDF", "IP", "JPG", "JPEG", "PNG", "MB", "KB", "MP4", "MP", "xlsx", "xls",
           "csv", "CSV", "ID", "English", "ACD", "ABCD", "A", "B", "C", "D", "Email", "URL"}
# Not screens: files, the API, the logout action, FAB's chart (removed by the 首页 work).
SKIPPED = re.compile(r"/api/|logout|download|export|template|\.png|\.pdf|\.zip|/files/|"
                     r"/userstatschartview/|/heartbeat|/static/|favicon|/lang/|/back")
# Raw file kinds on 上传文件 (issue 13 "file kinds and MIME types in words", another part).
KNOWN_GAPS: set[str] = set()
WORD = re.compile(r"[A-Za-z][A-Za-z']+")
EMAIL = re.compile(r"[\w.+-]+@[\w.-]+")
CODE = re.compile(r"[A-Za-z]*[0-9][A-Za-z0-9]*")  # numbers of ours: SQ00000001, JX2025-...


def visible_text(body: str) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", body))


def screen_words(body: str) -> set[str]:
    attrs = " ".join(re.findall(r'(?:placeholder|title|alt|data-text)="([^"]*)"', body))
    text = visible_text(body) + " " + htmllib.unescape(attrs)
    return set(WORD.findall(CODE.sub(" ", EMAIL.sub(" ", text))))


def screens(app, extra: tuple[str, ...] = ()) -> list[str]:
    urls = [rule.rule for rule in app.url_map.iter_rules()
            if "GET" in rule.methods and not rule.arguments and not SKIPPED.search(rule.rule)]
    return sorted(set(urls)) + list(extra)


def data_words() -> set[str]:
    """Words of the rows other tests left: account names (pinyin), uploaded file names, the
    letters of multiple-choice answers (AC)."""
    from app.extensions import db
    from app.models import AppUser, StoredFile

    words = set()
    for (text,) in db.session.query(AppUser.username).all() + db.session.query(
            StoredFile.original_name).all():
        words.update(WORD.findall(text or ""))
    return words | {"AC", "AB", "BC", "BD", "ABC", "BCD", "AD", "CD", "ABD", "ACD"}


def english_left(client, urls, own_words: set[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    with client.application.app_context():
        own_words = own_words | data_words() | KNOWN_GAPS
    for url in urls:
        resp = client.get(url)
        if resp.status_code != 200 or "html" not in resp.content_type:
            continue
        body = resp.get_data(as_text=True)
        words = screen_words(body) - ALLOWED - own_words - {"None"}
        if "None" in WORD.findall(visible_text(body)):
            words.add("None (an empty value printed)")
        if words:
            found[url] = words
    return found


def report(found: dict[str, set[str]]) -> str:
    return "\n".join(f"{url}: {' '.join(sorted(words))}" for url, words in sorted(found.items()))


def _admin_rows(app) -> tuple[str, ...]:
    from app.extensions import db

    with app.app_context():
        sm = app.appbuilder.sm
        role_id = sm.find_role(ROLE_AUDITOR).id
        user_id = sm.find_user(username="testreviewer").id
        db.session.remove()
    return (f"/roles/show/{role_id}", f"/roles/edit/{role_id}", f"/users/show/{user_id}",
            f"/users/edit/{user_id}", "/users/add", "/roles/add")


@pytest.mark.parametrize("username", ["testadmin", "testreviewer"])
def test_staff_screens_in_chinese_have_no_english(app, username):
    client = app.test_client()
    login_staff(client, username)
    extra = _admin_rows(app) if username == "testadmin" else ()
    found = english_left(client, screens(app, extra), {username, "testreviewer"})
    assert not found, report(found)


def test_auditor_screens_in_chinese_have_no_english(app):
    from app.extensions import db

    with app.app_context():
        sm = app.appbuilder.sm
        sm.add_user(username="shenjiyuanzh", first_name="审计", last_name="", role=sm.find_role(
            ROLE_AUDITOR), email="i18nauditor@example.gov.cn", password=STAFF_PASSWORD)
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    assert login(client, "shenjiyuanzh", STAFF_PASSWORD, "staff").status_code == 302
    found = english_left(client, screens(app), {"shenjiyuanzh"})
    assert not found, report(found)


def test_expert_screens_in_chinese_have_no_english(app, make_expert):
    account = make_expert("语言专家", status=ExpertStatus.ADMITTED)
    client = app.test_client()
    login_expert(client, account)
    found = english_left(client, screens(app), {account.username})
    assert not found, report(found)


def test_confirm_modal_buttons_are_chinese(app):
    client = app.test_client()
    login_staff(client, "testadmin")
    body = client.get("/prefectureadminview/list/").get_data(as_text=True)
    modal = body[body.find('id="modal-confirm"'):]
    assert "取消" in modal and "确定" in modal
    assert ">Cancel<" not in body and ">OK<" not in body


def test_widgets_load_their_chinese_locale_files(app):
    client = app.test_client()
    login_staff(client, "testadmin")
    body = client.get("/users/add").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', body)
    names = [s.rsplit("/", 1)[-1] for s in scripts]
    # after FAB's select2 and datepicker, before the page's own scripts run on ready
    assert names.index("select2.zh-CN.js") > names.index("select2.min.js")
    assert names.index("bootstrap-datepicker.zh-CN.min.js") > names.index(
        "bootstrap-datepicker.min.js")
    assert "fab_zh.js" in names
    for src in scripts:
        assert src.startswith("/"), src  # nothing from outside the server
        assert client.get(src).status_code == 200, src
    assert "未找到结果" in client.get("/static/i18n/select2.zh-CN.js").get_data(as_text=True)
