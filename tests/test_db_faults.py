"""Issue 11, item 14: database faults. A failed commit keeps the FAB form (no "saved"
flash, no redirect); an unreachable database is a Chinese 503; the app recovers from
terminated connections without a restart, and a read that lost its connection is retried."""
from __future__ import annotations

import contextlib
import itertools

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.conftest import login_staff, page_text

# connections are killed and apps built on the database
pytestmark = pytest.mark.commits

_names = itertools.count(1)


@contextlib.contextmanager
def failing_commits():
    """Every ORM commit fails as a dropped connection does, until the block ends."""

    def fail(session):
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    event.listen(Session, "before_commit", fail)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", fail)


def _degree_count(app, name: str) -> int:
    from app.extensions import db
    from app.models import Degree

    with app.app_context():
        count = db.session.query(Degree).filter_by(name=name).count()
        db.session.remove()
    return count


def test_item14_failed_commit_on_add_keeps_the_form(app):
    client = app.test_client()
    login_staff(client, "testadmin")
    n = next(_names)
    name = f"故障学位{n}"
    with failing_commits():
        resp = client.post("/degreeadminview/add", data={"code": f"F{n}", "name": name})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200  # the form again, not a redirect as if saved
    assert f'value="{name}"' in html and f'value="F{n}"' in html
    text = page_text(resp)
    assert "保存失败" in text
    assert "新增成功" not in text and "Added Row" not in text
    assert "COMMIT" not in text and "server closed" not in text  # no internals
    assert _degree_count(app, name) == 0
    # the same form saves once the database is back
    resp = client.post("/degreeadminview/add", data={"code": f"F{n}", "name": name})
    assert resp.status_code == 302
    assert _degree_count(app, name) == 1


def test_item14_failed_commit_on_edit_keeps_the_form(app):
    from app.extensions import db
    from app.models import Degree

    n = next(_names)
    with app.app_context():
        degree = Degree(code=f"E{n}", name=f"原学位{n}")
        db.session.add(degree)
        db.session.commit()
        pk = degree.id
        db.session.remove()
    client = app.test_client()
    login_staff(client, "testadmin")
    with failing_commits():
        resp = client.post(f"/degreeadminview/edit/{pk}", data={"code": f"E{n}",
                                                                "name": f"改后学位{n}"})
    assert resp.status_code == 200
    assert f'value="改后学位{n}"' in resp.get_data(as_text=True)
    text = page_text(resp)
    assert "保存失败" in text and "修改成功" not in text and "Changed Row" not in text
    assert _degree_count(app, f"原学位{n}") == 1 and _degree_count(app, f"改后学位{n}") == 0


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def unreachable_app(request, app, tmp_path_factory):
    """An app whose database cannot be reached: PostgreSQL on a closed port, or a SQLite
    file in a directory that does not exist."""
    from app import create_app

    if request.param == "postgresql":
        uri = "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2"
    else:
        uri = f"sqlite:///{tmp_path_factory.mktemp('gone')}/no/such/dir/app.db"
    broken = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": uri, "WTF_CSRF_ENABLED": False,
        "UPLOAD_FOLDER": str(tmp_path_factory.mktemp("uploads-gone")), "SERVER_NAME": None,
        "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "LOGIN_API_ENABLED": True,  # the one API route; off, it is a 404 before any query
    })
    return broken


@pytest.mark.parametrize("url", ["/login/", "/expertadminview/list/", "/certificates/",
                                 "/certificates/verify/JX2099-AAAA-BBBB-CCCC-DDDD"])
def test_item14_unreachable_database_is_a_chinese_503(unreachable_app, url):
    resp = unreachable_app.test_client().get(url)
    assert resp.status_code == 503, resp.get_data(as_text=True)[:300]
    text = page_text(resp)
    assert "系统暂时无法访问" in text
    for internal in ("OperationalError", "psycopg", "sqlite", "127.0.0.1", "Traceback"):
        assert internal not in text


def test_item14_unreachable_database_api_answers_json_503(unreachable_app):
    resp = unreachable_app.test_client().post("/api/v1/security/login",
                                              json={"username": "a", "password": "b", "provider": "db"})
    assert resp.status_code == 503
    assert resp.get_json() == {"message": "系统暂时无法访问，请稍后重试。"}


# ------------------------------------------------------------------ PostgreSQL only


@pytest.fixture
def postgres(app):
    from app.extensions import db

    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() != "postgresql":
        pytest.skip("terminating backends needs PostgreSQL")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    yield admin
    admin.dispose()
    # The fronts' own pool has no pre-ping (speed): its connections killed here would hand
    # the next test's first heartbeat to Flask. Production recovers the same way, once.
    front = app.extensions.pop("front_engine", None)
    if front is not None:
        front.dispose()


def _terminate_others(admin) -> int:
    """pg_terminate_backend of every other connection to this test database."""
    with admin.connect() as conn:
        return len(conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all())


def _terminate(admin, pid: int) -> None:
    """pg_terminate_backend only signals: wait until the backend is gone."""
    import time

    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(100):
            if not conn.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"),
                                {"pid": pid}).first():
                return
            time.sleep(0.02)


def test_item14_terminated_backends_between_requests_next_request_succeeds(app, postgres):
    client = app.test_client()
    login_staff(client)
    assert client.get("/expertadminview/list/").status_code == 200
    assert _terminate_others(postgres) >= 1
    for url in ("/expertadminview/list/", "/degreeadminview/list/", "/certificates/admin/"):
        assert client.get(url).status_code == 200, url


def test_item14_connection_killed_during_a_read_is_retried_once(app, postgres):
    """The backend serving a GET dies before its second statement: the request is run
    again on a fresh connection and succeeds."""
    from app.extensions import db

    client = app.test_client()
    login_staff(client)
    assert client.get("/degreeadminview/list/").status_code == 200
    with app.app_context():
        engine = db.engine
    state = {"statements": 0, "killed": 0, "session_checks": 0}

    def kill_once(conn, cursor, statement, parameters, context, executemany):
        state["statements"] += 1
        # the request's first statement loads the signed-in account (then 系统设置's rows,
        # then the session check): a second one is the retry from the start
        state["session_checks"] += statement.startswith("SELECT ab_user.")
        if state["statements"] == 2 and not state["killed"]:
            state["killed"] = 1
            _terminate(postgres, conn.connection.driver_connection.info.backend_pid)

    event.listen(engine, "before_cursor_execute", kill_once)
    try:
        resp = client.get("/degreeadminview/list/")
    finally:
        event.remove(engine, "before_cursor_execute", kill_once)
    assert state["killed"] == 1
    assert resp.status_code == 200
    assert "学位" in page_text(resp)
    # the request ran again from its first statement: the retry
    assert state["session_checks"] == 2


def test_item14_connection_killed_during_a_post_is_503_not_retried(app, postgres):
    from app.extensions import db

    client = app.test_client()
    login_staff(client, "testadmin")
    n = next(_names)
    with app.app_context():
        engine = db.engine
    state = {"killed": 0}

    def kill_on_insert(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO DEGREE") and not state["killed"]:
            state["killed"] = 1
            _terminate(postgres, conn.connection.driver_connection.info.backend_pid)

    event.listen(engine, "before_cursor_execute", kill_on_insert)
    try:
        resp = client.post("/degreeadminview/add", data={"code": f"K{n}", "name": f"断线学位{n}"})
    finally:
        event.remove(engine, "before_cursor_execute", kill_on_insert)
    assert state["killed"] == 1
    assert resp.status_code == 200 and "保存失败" in page_text(resp)
    assert _degree_count(app, f"断线学位{n}") == 0
    assert client.get("/degreeadminview/list/").status_code == 200


def test_item14_fronts_hand_database_faults_to_flask(unreachable_app):
    """The heartbeat and certificate-download fronts answer without Flask; a database fault
    there goes on to Flask, whose answer is the Chinese 503, not a bare 500."""
    from app.security import SESSION_TOKEN

    client = unreachable_app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = "1"
        sess[SESSION_TOKEN] = "token-of-a-session"
    resp = client.post("/training/1/heartbeat", json={"lesson_id": 1, "position": 5,
                                                      "visible": True})
    assert resp.status_code == 503
    assert resp.get_json() == {"message": "系统暂时无法访问，请稍后重试。"}
    resp = client.get("/certificates/1/pdf")
    assert resp.status_code == 503 and "系统暂时无法访问" in page_text(resp)
