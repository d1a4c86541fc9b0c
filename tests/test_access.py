"""The access rules (app/services/access.py): each is written once, as Python and as SQL;
the two must agree, and the WSGI fronts must account for every guard of the app."""
import datetime as dt
import itertools

import pytest
from sqlalchemy import bindparam, literal, select

from app.models import Enrollment, UserSession
from app.services import access
from app.views._front import CERTIFICATE_DOWNLOAD, GUARDS, HEARTBEAT, guard_name

NOW = dt.datetime(2025, 6, 1, 9, 0)


def _app_guards(app) -> set[str]:
    names = set()
    for funcs in app.before_request_funcs.values():  # the app's and every blueprint's
        names |= {guard_name(f) for f in funcs}
    return names


def test_every_before_request_guard_is_accounted_for_by_the_fronts(app):
    """A guard added to the app that the fronts do not know would be skipped by them: each
    front must say, in app/views/_front.GUARDS, whether it applies it or why it may skip it."""
    guards = _app_guards(app)
    assert guards, "the app has its guards"
    unknown = guards - GUARDS.keys()
    assert not unknown, f"guards the fronts do not account for: {sorted(unknown)}"
    stale = GUARDS.keys() - guards
    assert not stale, f"guards listed for the fronts that the app no longer has: {sorted(stale)}"
    for name, by_front in GUARDS.items():
        assert set(by_front) == {HEARTBEAT, CERTIFICATE_DOWNLOAD}, name
        for front, why in by_front.items():
            assert why.startswith(("applied", "skipped")) and ": " in why, (name, front)


def test_a_new_guard_is_caught(app, monkeypatch):
    def audit_every_request():
        return None

    monkeypatch.setitem(app.before_request_funcs, None,
                        [*app.before_request_funcs[None], audit_every_request])
    assert guard_name(audit_every_request) in _app_guards(app) - GUARDS.keys()


def test_the_fronts_name_their_row():
    from app.views.certificate import CertificateDownloadFront
    from app.views.heartbeat import HeartbeatFront

    assert HeartbeatFront.name == HEARTBEAT
    assert CertificateDownloadFront.name == CERTIFICATE_DOWNLOAD


# --- sessions ------------------------------------------------------------------------------

def test_session_messages_name_the_configured_limits():
    limits = access.SessionLimits(idle=dt.timedelta(minutes=45), absolute=dt.timedelta(hours=8))
    created, seen = NOW - dt.timedelta(hours=1), NOW - dt.timedelta(minutes=46)
    assert access.session_limit_reached(created, seen, NOW, limits) == (
        "闲置超时", "45分钟未操作，请重新登录")
    old = NOW - dt.timedelta(hours=8, seconds=1)
    assert access.session_limit_reached(old, NOW, NOW, limits) == (
        "超过8小时", "登录已超过8小时，请重新登录")
    assert access.SessionLimits.from_config(
        {"SESSION_IDLE_MINUTES": 90, "SESSION_ABSOLUTE_HOURS": 2}).idle_message() == \
        "90分钟未操作，请重新登录"
    # the defaults are the config's (30 minutes, 12 hours)
    assert access.DEFAULT_LIMITS.idle_message() == "30分钟未操作，请重新登录"
    assert access.DEFAULT_LIMITS.absolute_message() == "登录已超过12小时，请重新登录"


def test_the_idle_message_follows_the_config(app, make_expert):
    from app.extensions import db
    from app.models import utcnow
    from tests.conftest import login_expert, page_text

    account = make_expert("配置")
    client = app.test_client()
    login_expert(client, account)
    with app.app_context():
        for row in db.session.query(UserSession).filter_by(user_id=account.user_id,
                                                           ended_at=None):
            row.last_seen_at = utcnow() - dt.timedelta(minutes=50)
        db.session.commit()
        db.session.remove()
    app.config["SESSION_IDLE_MINUTES"] = 45
    try:
        client.get("/expert/")
        assert "45分钟未操作" in page_text(client.get("/login/"))
    finally:
        app.config["SESSION_IDLE_MINUTES"] = 30


def _sql_true(app, clause, params) -> bool:
    from app.extensions import db

    with app.app_context():
        value = db.session.execute(select(literal(1)).where(clause), params).first() is not None
        db.session.remove()
    return value


def test_session_limits_python_and_sql_agree(app, make_expert):
    """session_limit_reached (Python) and session_within_limits (SQL), on the same rows."""
    from app.extensions import db
    from app.services import sessions

    user_id = make_expert("时限").user_id
    limits = access.DEFAULT_LIMITS
    edges = (dt.timedelta(0), dt.timedelta(seconds=1))
    ages = [limits.absolute + e for e in edges] + [limits.absolute - edges[1]]
    idles = [limits.idle + e for e in edges] + [limits.idle - edges[1], sessions.TOUCH_EVERY]
    for age, idle in itertools.product(ages, idles):
        with app.app_context():
            db.session.query(UserSession).filter_by(user_id=user_id).delete()
            db.session.add(UserSession(token_hash=sessions.token_hash("t"), user_id=user_id,
                                       created_at=NOW - age, last_seen_at=NOW - idle))
            db.session.commit()
            db.session.remove()
        python_ok = access.session_limit_reached(NOW - age, NOW - idle, NOW, limits) is None
        clause = access.session_open(bindparam("user_id")) & access.session_within_limits()
        sql_ok = _sql_true(app, select(UserSession.id).where(clause).exists(),
                           {"user_id": user_id, **access.session_params("t", NOW, limits)})
        assert python_ok == sql_ok, (age, idle)


# --- account -------------------------------------------------------------------------------

def test_account_rule_python_and_sql_agree(app, make_expert):
    from app.extensions import db
    from app.models import AppUser

    user_id = make_expert("账号").user_id
    try:
        for active, must_change in itertools.product((True, False), repeat=2):
            with app.app_context():
                user = db.session.get(AppUser, user_id)
                user.active, user.must_change_password = active, must_change
                db.session.commit()
                db.session.remove()
            python_ok = access.account_refusal(active, must_change) is None
            sql_ok = _sql_true(app, select(AppUser.id).where(
                AppUser.id == user_id, access.account_usable()).exists(), {})
            assert python_ok == sql_ok, (active, must_change)
    finally:
        with app.app_context():
            user = db.session.get(AppUser, user_id)
            user.active, user.must_change_password = True, False
            db.session.commit()
            db.session.remove()
    assert access.account_refusal(False, False) == (401, access.SESSION_GONE)
    assert access.account_refusal(True, True) == (403, "请先修改默认密码")
    # the password page itself, and logging out, stay open
    assert access.account_refusal(True, True, "AccountView.change_password") is None
    assert access.account_refusal(True, True, "LoginView.logout") is None


# --- study window --------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "end", "expected"), [
    (None, None, access.StudyWindow.NOT_OPEN),
    (NOW + dt.timedelta(seconds=1), NOW + dt.timedelta(days=1), access.StudyWindow.NOT_OPEN),
    (NOW, NOW, access.StudyWindow.OPEN),
    (NOW - dt.timedelta(days=1), None, access.StudyWindow.OPEN),  # no end: open
    (NOW - dt.timedelta(days=1), NOW - dt.timedelta(seconds=1), access.StudyWindow.ENDED),
])
def test_study_window(start, end, expected):
    assert access.study_window(start, end, NOW) is expected


def test_study_window_sql_on_rows(app, make_expert):
    from app.extensions import db
    from app.models import Course, TrainingRound

    account = make_expert("窗口")
    cases = [
        (None, None), (NOW + dt.timedelta(seconds=1), NOW + dt.timedelta(days=1)), (NOW, NOW),
        (NOW - dt.timedelta(days=1), None),
        (NOW - dt.timedelta(days=1), NOW - dt.timedelta(seconds=1)),
    ]
    with app.app_context():
        rnd = TrainingRound(name=f"窗口批次{account.expert_id}", admission_batches="无", fee_fen=0,
                            enroll_start=NOW, enroll_end=NOW, active=False)
        ids = []
        for i, (start, end) in enumerate(cases):
            e = Enrollment(expert_id=account.expert_id,
                           course=Course(round=rnd, name=f"窗口{i}", required_minutes=1),
                           study_start=start, study_end=end)
            db.session.add(e)
            db.session.flush()
            ids.append(e.id)
        db.session.commit()
        for enrollment_id, (start, end) in zip(ids, cases, strict=True):
            sql_open = db.session.execute(
                select(Enrollment.id).where(Enrollment.id == enrollment_id,
                                            access.study_window_open(bindparam("now"))),
                {"now": NOW}).first() is not None
            python_open = access.study_window(start, end, NOW) is access.StudyWindow.OPEN
            assert sql_open == python_open, (start, end)
        db.session.remove()


# --- the SQL spelt out for PostgreSQL text ---------------------------------------------------

def test_postgresql_text_keeps_named_parameters():
    text = access.postgresql_text(access.study_window_open(bindparam("now")))
    assert ":now" in text and "::" not in text and "%(" not in text
