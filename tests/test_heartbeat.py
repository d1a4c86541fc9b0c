"""The heartbeat's fast paths: the WSGI front before Flask, and on PostgreSQL the single
statement, held to the same rules as the Flask route and the Python credit rules."""
import datetime as dt
import re
import secrets

import pytest

from app.services import sessions, study
from tests.conftest import login_expert
from tests.test_study_exam import T0, course_setup  # noqa: F401  (the fixture)
from tests.test_study_views import learner  # noqa: F401  (the fixture)

# the fronts read and write on connections of their own
pytestmark = pytest.mark.commits

NOW = T0 + dt.timedelta(hours=1)


@pytest.fixture
def route_calls(app, monkeypatch):
    """How many beats reached the Flask route (the rest were answered by the front)."""
    calls = []
    view = app.view_functions["study_api.heartbeat"]

    def counting(**kwargs):
        calls.append(kwargs)
        return view(**kwargs)
    monkeypatch.setitem(app.view_functions, "study_api.heartbeat", counting)
    return calls


def _study_page(client, account):
    html = client.get(f"/training/{account.enrollment}/study").get_data(True)
    return (re.search(r'data-csrf="([^"]+)"', html).group(1),
            re.search(r'data-lesson="(\d+)"', html).group(1))


def test_front_answers_the_ordinary_beat_and_hands_on_the_rest(app, learner, route_calls):  # noqa: F811
    client = app.test_client()
    login_expert(client, learner)
    csrf, lesson = _study_page(client, learner)
    url = f"/training/{learner.enrollment}/heartbeat"
    body = {"lesson_id": lesson, "visible": True, "position": 3}
    other = app.test_client()  # the same expert in another browser: another CSRF secret
    login_expert(other, learner)
    other_csrf, _ = _study_page(other, learner)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        front = client.post(url, json=body, headers={"X-CSRFToken": csrf})
        assert front.status_code == 200 and front.json == {"credited": 0, "progress": 0}
        assert route_calls == []
        # the same answer headers as the app's own (security headers, never cached)
        for name, value in (("X-Frame-Options", "DENY"), ("Cache-Control", "no-store"),
                            ("X-Content-Type-Options", "nosniff"), ("Vary", "Cookie")):
            assert front.headers[name] == value
        assert "frame-ancestors 'none'" in front.headers["Content-Security-Policy"]
        assert "Set-Cookie" not in front.headers
        # CSRF: missing, forged or another session's token -> Flask-WTF's 400 page
        assert client.post(url, json=body).status_code == 400
        forged = csrf[:-4] + ("AAAA" if not csrf.endswith("AAAA") else "BBBB")
        assert client.post(url, json=body, headers={"X-CSRFToken": forged}).status_code == 400
        assert client.post(url, json=body, headers={"X-CSRFToken": other_csrf}).status_code == 400
        assert len(route_calls) == 0  # refused by Flask-WTF before the route
        # over HTTPS the Referer must be this site, as Flask-WTF requires
        secure = {"base_url": "https://localhost", "headers": {"X-CSRFToken": csrf}}
        assert client.post(url, json=body, **secure).status_code == 400
        secure["headers"]["Referer"] = "https://evil.example/"
        assert client.post(url, json=body, **secure).status_code == 400
        secure["headers"]["Referer"] = "https://localhost/training/"
        ok = client.post(url, json=body, **secure)
        assert ok.status_code == 200 and "max-age" in ok.headers["Strict-Transport-Security"]
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    # a body the front cannot read goes to the route, which refuses it as before
    assert client.post(url, json={"visible": True, "position": "inf"}).status_code == 400
    assert client.post(url, json=[1, 2]).status_code == 400
    assert client.post(url, data="visible", content_type="text/plain").status_code == 200
    # a tampered cookie is no cookie: 401 from the route
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value[:-2] + "xx")
    assert thief.post(url, json=body).status_code == 401


def test_front_refuses_what_the_route_refuses(app, learner, make_expert, route_calls):  # noqa: F811
    from app.extensions import db
    from app.models import AppUser

    client = app.test_client()
    login_expert(client, learner)
    url = f"/training/{learner.enrollment}/heartbeat"
    # another expert's enrolment: 404, whoever answers
    stranger = make_expert("旁人", status=learner_status())
    other = app.test_client()
    login_expert(other, stranger)
    assert other.post(url, json={"visible": True}).status_code == 404
    # a lesson of no course of this enrolment: 404
    assert client.post(url, json={"visible": True, "lesson_id": 999999}).status_code == 404
    # deactivated account: its session no longer counts
    with app.app_context():
        db.session.get(AppUser, learner.user_id).active = False
        db.session.commit()
        db.session.remove()
    try:
        assert client.post(url, json={"visible": True}).status_code == 401
    finally:
        with app.app_context():
            db.session.get(AppUser, learner.user_id).active = True
            db.session.commit()
            db.session.remove()
    # signed out: the same cookie, replayed, is refused by the front itself
    saved = client.get_cookie("session").value
    client.post("/logout/")
    route_calls.clear()
    thief = app.test_client()
    thief.set_cookie("session", saved)
    resp = thief.post(url, json={"visible": True})
    assert resp.status_code == 401 and route_calls == []


def learner_status():
    from app.models import ExpertStatus

    return ExpertStatus.ADMITTED


# --- the front's path against the app's, on every database ----------------------------
# The front runs the beat on its own connection (on PostgreSQL: the single statement); the
# app's route on the request's session, the Python path. Both must answer and write alike.

def _scenarios():
    s = dt.timedelta(seconds=1)
    for gap in (None, 0, 0.5, 1, 29.9, 30, 74.999, 75, 75.001, 76, -5):
        for visible in (True, False):
            yield {"gap": gap, "visible": visible}
    yield {"gap": 30, "credited": 590}  # 10 s short of the 10 minutes: only 10 count
    yield {"gap": 30, "credited": 600}
    yield {"gap": 30, "lesson": None}
    yield {"gap": 30, "lesson": "other"}
    yield {"gap": 30, "seen": 61 * s}  # touches last_seen_at
    yield {"gap": 30, "seen": 30 * 60 * s}
    yield {"gap": 30, "seen": 30 * 60 * s + s}  # idle: ended
    yield {"gap": 30, "created": 12 * 3600 * s + s}  # too old: ended
    yield {"gap": 30, "must_change": True}
    yield {"gap": 30, "active": False}
    yield {"gap": 30, "token": "wrong"}
    yield {"gap": 30, "user": "other"}
    yield {"gap": 30, "window": "ended"}
    yield {"gap": 30, "window": "not_open"}
    yield {"gap": 30, "window": "no_end"}  # one rule with study_gate: no end is open


def _prepare(app, ids, user_id, scenario, token):
    """The enrolment, the account and one session of ``token`` as the scenario says."""
    from app.extensions import db
    from app.models import AppUser, Enrollment, UserSession

    with app.app_context():
        e = db.session.get(Enrollment, ids["enrollment"])
        gap = scenario.get("gap")
        e.last_beat_at = None if gap is None else NOW - dt.timedelta(seconds=gap)
        e.credited_seconds = scenario.get("credited", 100)
        e.resume_lesson_id, e.resume_position = None, 0
        window = scenario.get("window")
        e.study_start = NOW + dt.timedelta(days=1) if window == "not_open" else T0
        e.study_end = {"ended": NOW - dt.timedelta(seconds=1), "no_end": None}.get(
            window, T0 + dt.timedelta(days=9))
        user = db.session.get(AppUser, user_id)
        user.must_change_password = scenario.get("must_change", False)
        user.active = scenario.get("active", True)
        db.session.query(UserSession).filter_by(user_id=user_id).delete()
        row = UserSession(token_hash=sessions.token_hash(token), user_id=user_id,
                          created_at=NOW - scenario.get("created", dt.timedelta(minutes=5)),
                          last_seen_at=NOW - scenario.get("seen", dt.timedelta(seconds=10)))
        db.session.add(row)
        db.session.commit()
        session_id = row.id
        db.session.remove()
    return session_id


def _state(app, ids, user_id, session_id):
    from app.extensions import db
    from app.models import AppUser, Enrollment, UserSession

    with app.app_context():
        e = db.session.get(Enrollment, ids["enrollment"])
        s = db.session.get(UserSession, session_id)
        state = (e.credited_seconds, e.last_beat_at, e.resume_lesson_id, e.resume_position,
                 s.last_seen_at, s.ended_at, s.end_reason)
        user = db.session.get(AppUser, user_id)
        user.must_change_password, user.active = False, True
        db.session.commit()
        db.session.remove()
    return state


def _run(app, ids, user_id, scenario, path):
    """One beat by ``path``: "front" (the front's connection: on PostgreSQL the single
    statement) or "app" (the route's: the request's session, committed once)."""
    from app.extensions import db
    from app.services import unit_of_work
    from app.views._front import run_statement

    token = secrets.token_urlsafe(16)
    session_id = _prepare(app, ids, user_id, scenario, token)
    lesson = {"other": ids["other_lesson"], None: None}.get(scenario.get("lesson", 0),
                                                           ids["lesson"])
    args = (ids["enrollment"], ids["user_other"] if scenario.get("user") else user_id,
            "x" if scenario.get("token") else token, lesson, 42.7,
            scenario.get("visible", True), NOW)
    with app.app_context():
        try:
            if path == "front":
                outcome = run_statement(app, lambda conn, one: _refused_or(
                    lambda: study.beat_for_user(conn, *args, one_statement=one)))
            else:
                outcome = _refused_or(lambda: study.beat_for_user(
                    study.SessionStatements(db.session), *args))
                unit_of_work.commit(db.session)
        finally:
            db.session.remove()
    return outcome, _state(app, ids, user_id, session_id)


def _refused_or(beat):
    try:
        return beat()
    except study.BeatRefused as exc:
        return (exc.status, exc.message)


@pytest.fixture
def beat_ids(app, course_setup, make_expert):  # noqa: F811
    from app.extensions import db
    from app.models import Course, Enrollment, Lesson

    with app.app_context():
        e = db.session.get(Enrollment, course_setup["enrollment"])
        user_id = e.expert.user_id
        stray = Lesson(course=Course(round=e.course.round, name="别的课程", required_minutes=1),
                       title="别处")
        db.session.add(stray)
        db.session.commit()
        ids = dict(course_setup, other_lesson=stray.id, user=user_id)
        db.session.remove()
    ids["user_other"] = make_expert("别人").user_id
    return ids


@pytest.mark.commits  # the front's own connection must see the rows
def test_one_statement_keeps_the_python_rules(app, beat_ids):
    """On PostgreSQL the front's single statement against the app's Python path; on SQLite
    the front's own connection against the request's session."""
    ids, user_id = beat_ids, beat_ids["user"]
    for scenario in _scenarios():
        two = _run(app, ids, user_id, scenario, "app")
        one = _run(app, ids, user_id, scenario, "front")
        assert one == two, scenario
    # and the credits are the rules' own: 30 s visible, 10 s when only 10 are missing
    assert _run(app, ids, user_id, {"gap": 30}, "front")[0] == (30, 21)
    assert _run(app, ids, user_id, {"gap": 30, "credited": 590}, "front")[0] == (10, 100)
    assert _run(app, ids, user_id, {"gap": 76}, "front")[0] == (0, 16)
    # the study window: ended or not yet open is no enrolment of this account's (404)
    assert _run(app, ids, user_id, {"gap": 30, "window": "ended"}, "front")[0] is None
    assert _run(app, ids, user_id, {"gap": 30, "window": "no_end"}, "front")[0] == (30, 21)


@pytest.mark.commits  # the front's own connection must see the rows
def test_front_and_route_give_the_same_answers(app, beat_ids, route_calls, monkeypatch):
    """The same requests through the WSGI front and through Flask alone (the front told to
    hand everything on): the same status, body and rows, on every database; what the front
    does not answer itself it hands to Flask."""
    from app.views import heartbeat

    monkeypatch.setattr(heartbeat, "utcnow", lambda: NOW)
    ids, user_id = beat_ids, beat_ids["user"]
    client = app.test_client()
    real_token = secrets.token_urlsafe(16)  # the session row is made per scenario
    url = f"/training/{ids['enrollment']}/heartbeat"

    def request(scenario, through_front):
        from app.extensions import db
        from app.models import UserSession

        session_id = _prepare(app, ids, user_id, scenario, real_token)
        with client.session_transaction() as cookie_session:
            cookie_session["sid"] = "x" if scenario.get("token") else real_token
            cookie_session["_user_id"] = str(ids["user_other"] if scenario.get("user")
                                             else user_id)
            cookie_session["_fresh"] = True
        lesson = {"other": ids["other_lesson"], None: None}.get(scenario.get("lesson", 0),
                                                               ids["lesson"])
        route_calls.clear()
        if through_front:
            resp = client.post(url, json={"lesson_id": lesson, "position": 42.7,
                                          "visible": scenario.get("visible", True)})
        else:
            with monkeypatch.context() as m:
                m.setattr(heartbeat.HeartbeatFront, "_beat", lambda *a: None)
                resp = client.post(url, json={"lesson_id": lesson, "position": 42.7,
                                              "visible": scenario.get("visible", True)})
        with app.app_context():
            assert db.session.get(UserSession, session_id) is not None
            db.session.remove()
        answered_by_front = through_front and not route_calls
        return (resp.status_code, resp.get_json(silent=True)), answered_by_front, _state(
            app, ids, user_id, session_id)

    statuses = set()
    for scenario in _scenarios():
        by_flask, _, flask_state = request(scenario, through_front=False)
        statuses.add(by_flask[0])
        by_front, front_answered, front_state = request(scenario, through_front=True)
        assert by_front == by_flask and front_state == flask_state, scenario
        # the front answers every beat it can judge; a 404 it hands on to Flask's page
        assert front_answered == (by_front[0] != 404), scenario
    assert statuses == {200, 401, 403, 404}  # every kind of answer was compared


def test_memo_stays_bounded(monkeypatch):
    from app.views import _front as front

    monkeypatch.setattr(front, "MEMO_SIZE", 3)
    memo: dict = {}
    for i in range(10):
        front.remember(memo, str(i), i)
    assert memo == {"7": 7, "8": 8, "9": 9}
