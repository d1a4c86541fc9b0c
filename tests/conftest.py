"""Test set-up: one app per session on a fresh database (SQLite by default,
PostgreSQL when TEST_DATABASE_URL says so), built through the real migrations.

Each test runs inside one transaction on one connection, rolled back at its end
(``db_transaction``): the app's commits become savepoint releases inside it, so no test sees
another's rows. A test whose rows must be read by another connection, thread or process is
marked ``@pytest.mark.commits`` and commits for real, as the app does."""
from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import current_app, has_app_context
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection

from app.views import fastlist
from config import normalize_database_url

STAFF_PASSWORD = "Staff2025pass"
EXPERT_PASSWORD = "Expert2025pass"


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    url = normalize_database_url(url)
    engine = create_engine(url)
    with engine.begin() as conn:  # a fresh schema every run
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.services.demo import create_staff_user
    from app.services.reference import load_reference_data
    from app.services.roles import ROLE_ADMIN, ROLE_REVIEWER, sync_roles

    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": _database_url(tmp_path_factory),
        "UPLOAD_FOLDER": str(tmp_path_factory.mktemp("uploads")),
        # Cheap hashing: scrypt's deliberate slowness would dominate the suite.
        "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": None,
    })
    with app.app_context():
        upgrade()
        load_reference_data(db.session, app.config["REFERENCE_DIR"])
        sync_roles(app.appbuilder)
        sm = app.appbuilder.sm
        create_staff_user(sm, "testadmin", "测试管理员", "testadmin@example.gov.cn", ROLE_ADMIN,
                          STAFF_PASSWORD)
        create_staff_user(sm, "testreviewer", "测试审核员", "testreviewer@example.gov.cn",
                          ROLE_REVIEWER, STAFF_PASSWORD)
        db.session.remove()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@contextmanager
def rolled_back(app) -> Iterator[Connection]:
    """Everything ``app``'s sessions do, on one connection inside one transaction that is
    rolled back at the end (Indico's ``db`` fixture, for Flask-SQLAlchemy 3.1).

    Flask-SQLAlchemy's ``Session.get_bind`` answers the app's engine, so it is made to answer
    the connection instead (for this app only: a test's second app keeps its own engine), and
    the sessions join the connection's transaction with a savepoint of their own
    (``join_transaction_mode="create_savepoint"``): the app's ``commit()`` releases it,
    ``rollback()`` and ``close()`` go back to it, exactly as a real transaction would for that
    session. ``db.engine`` stays the engine: its event listeners (``count_queries``) see the
    connection's statements too."""
    from app.extensions import db

    with app.app_context():
        engine = db.engine
        db.session.remove()
    connection = engine.connect()
    if engine.dialect.name == "sqlite":
        # pysqlite begins transactions by itself and knows nothing of SAVEPOINT: SQLAlchemy's
        # documented workaround, on this connection only (NullPool closes it at the end)
        connection.connection.driver_connection.isolation_level = None
        event.listen(connection, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    connection.url = engine.url  # what the app asks of its bind besides the dialect (fastlist)
    outer = connection.begin()

    original_get_bind = FlaskSession.get_bind

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and has_app_context() and current_app._get_current_object() is app:
            return connection
        return original_get_bind(self, mapper=mapper, clause=clause, bind=bind, **kwargs)

    factory_kw = db.session.session_factory.kw
    saved_mode = factory_kw.get("join_transaction_mode")
    factory_kw["join_transaction_mode"] = "create_savepoint"
    FlaskSession.get_bind = get_bind
    try:
        yield connection
    finally:
        FlaskSession.get_bind = original_get_bind
        if saved_mode is None:
            factory_kw.pop("join_transaction_mode", None)
        else:
            factory_kw["join_transaction_mode"] = saved_mode
        with app.app_context():
            db.session.remove()
        if outer.is_active:
            outer.rollback()
        connection.close()
        forget_cached_rows()


def forget_cached_rows() -> None:
    """The lists' in-process memory of row counts, deep-page anchors and search options is
    forgotten when a flush adds or deletes rows; a rollback of rows it already counted
    (the end of a test) must forget it too, as a restart would."""
    with fastlist._lock:
        for memo in (fastlist._counts, fastlist._anchors, fastlist._search_parts):
            memo.clear()


@pytest.fixture(autouse=True)
def db_transaction(request):
    """Every test that uses the app runs in a transaction rolled back at its end, unless it
    is marked ``commits`` (its rows must be seen by another connection: a live server, a
    WSGI front's own connection, a worker, a second session, a killed connection)."""
    if request.node.get_closest_marker("commits") or "app" not in request.fixturenames:
        yield None
        return
    with rolled_back(request.getfixturevalue("app")) as connection:
        yield connection


@dataclass
class CountedQueries:
    statements: list[str]

    @property
    def count(self) -> int:
        return len(self.statements)


# The test's own transaction adds these around each session's work; a real request has none.
_TEST_SAVEPOINTS = re.compile(r"\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) ", re.I)


@pytest.fixture
def count_queries(app):
    """``with count_queries() as counted: ...`` then ``counted.count``: the statements the
    app's engine sent inside the block (Indico's fixture of the same name), savepoints of
    the test's transaction left out; ``counted.statements`` says which, for the message."""
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    active: list[CountedQueries] = []

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        if active and not _TEST_SAVEPOINTS.match(statement):
            active[-1].statements.append(statement)

    @contextmanager
    def counter() -> Iterator[CountedQueries]:
        counted = CountedQueries([])
        active.append(counted)
        try:
            yield counted
        finally:
            active.remove(counted)

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before_cursor_execute)


@pytest.fixture
def client(app):
    return app.test_client()


_counter = itertools.count(1)


def unique_identity(birth: dt.date | None = None, female: bool = False) -> tuple[str, str]:
    """A fresh, valid (ID number, phone) pair for each call."""
    from app.services.validators import make_id_number

    n = next(_counter) + os.getpid() % 1000 * 10_000
    birth = birth or dt.date(1970 + n % 30, 1 + n % 12, 1 + n % 28)
    seq = (n * 2) % 1000 if female else (n * 2 + 1) % 1000
    area = f"65{(n // 1000) % 100:02d}02"
    return make_id_number(area, birth, seq), f"139{n:08d}"[-11:]


@dataclass
class ExpertAccount:
    expert_id: int
    user_id: int
    username: str
    id_number: str
    phone: str
    password: str
    name: str


@pytest.fixture
def make_expert(app):
    """Create an expert with an account; ``default_password=True`` keeps the
    default password (last 8 of the ID number) and the forced change."""
    from app.extensions import db
    from app.models import Expert, ExpertStatus, Prefecture, Specialty, Title
    from app.services.accounts import hash_password
    from app.services.experts import prepare_new_expert

    def factory(name: str = "测试专家", *, default_password: bool = False,
                status: ExpertStatus = ExpertStatus.DRAFT, employer: str = "新疆测试建设公司",
                prefecture: str = "乌鲁木齐市") -> ExpertAccount:
        id_number, phone = unique_identity()
        with app.app_context():
            expert = Expert(
                name=name, id_number=id_number, phone=phone, status=status.value,
                employer=employer, admission_batch="2024年第一批", admission_type="续聘",
                prefecture=db.session.query(Prefecture).filter_by(name=prefecture).one(),
                main_specialty=db.session.query(Specialty).filter_by(code="A0101").one(),
                title=db.session.query(Title).filter_by(name="高级工程师").one(),
            )
            prepare_new_expert(db.session, expert)
            password = id_number[-8:]
            if not default_password:
                password = EXPERT_PASSWORD
                expert.user.password = hash_password(password)
                expert.user.must_change_password = False
            db.session.commit()
            account = ExpertAccount(expert.id, expert.user_id, expert.user.username, id_number,
                                    phone, password, name)
            db.session.remove()
        return account

    return factory


def redis_available() -> bool:
    """Redis answers on 127.0.0.1:6379 (CI and the developers' machines; not a fresh one)."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


def login(client, username: str, password: str, kind: str = "expert"):
    return client.post(f"/login/?login_kind={kind}", data={
        "username": username, "password": password, "login_kind": kind})


def login_staff(client, username: str = "testreviewer"):
    resp = login(client, username, STAFF_PASSWORD, "staff")
    assert resp.status_code == 302, resp.data[:500]
    return resp


def login_expert(client, account: ExpertAccount):
    resp = login(client, account.username, account.password, "expert")
    assert resp.status_code == 302, resp.data[:500]
    return resp


def page_text(resp) -> str:
    """The visible text of an HTML response, tags removed."""
    html = resp.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def pytest_collection_modifyitems(session, config, items):
    """Browser tests last: the fast request and unit tests report first, and the browser
    tests' live server (a thread sharing the session's database) starts after them.
    ``REVERSE_TESTS=1`` runs them in reverse order (browser tests still last): no test may
    depend on rows an earlier one left."""
    if os.environ.get("REVERSE_TESTS") == "1":
        items.reverse()
    items.sort(key=lambda item: "tests/browser/" in item.nodeid)


def open_round_for(app, account, *, name: str, batch: str, no_prefix: str,
                   course_names: list[str]) -> str:
    """An open training round of ``course_names`` (60 minutes each) for the admitted
    expert of ``account``, who gets a 专家编号 and the round's 入库批次. Returns the 专家编号.
    Request tests only: the browser tests open rounds through the staff screens."""
    from app.extensions import db
    from app.models import Course, Expert, TrainingRound, utcnow

    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        expert.expert_no = f"{no_prefix}{account.expert_id:06d}"
        expert.admission_batch = batch
        now = utcnow()
        rnd = TrainingRound(name=name, admission_batches=batch,
                            enroll_start=now - dt.timedelta(days=1),
                            enroll_end=now + dt.timedelta(days=30),
                            fee_fen=30000, makeup_fee_fen=10000, open_delay_days=2, study_days=10)
        db.session.add(rnd)
        for course_name in course_names:
            db.session.add(Course(round=rnd, name=course_name, required_minutes=60))
        db.session.commit()
        expert_no = expert.expert_no
        db.session.remove()
    return expert_no
