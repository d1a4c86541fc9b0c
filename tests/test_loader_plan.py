"""Item 17 of issue 11: the signed-in account's loader (Flask-Login calls
``ExpertSecurityManager.get_user_by_id`` on every request) must reach ab_user_role and
ab_user_group through their (user_id, ...) indexes. FAB's nested
``ab_user LEFT OUTER JOIN (ab_user_role JOIN ab_role ...)`` made SQLite 3.40 materialise
the inner join and scan the whole of ab_user_role: ~300 ms a request at 1M experts."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event, text

from tests.conftest import login_staff

ROLE_TABLES = ("ab_user_role", "ab_user_group")
FILLER_USERS = 5000


def _loader_statements(app, user_id: int) -> tuple[list[tuple[str, object]], object]:
    """The loader's SQL with its parameters, and the number of statements it took to have
    the account's roles and groups in hand."""
    from app.extensions import db

    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            user = app.appbuilder.sm.get_user_by_id(user_id)
            roles = [r.name for r in user.roles]
            groups = [g.name for g in user.groups]
        finally:
            event.remove(engine, "before_cursor_execute", record)
            db.session.remove()
    return seen, (roles, groups)


def _staff_user_id(app, username: str = "testreviewer") -> int:
    from app.extensions import db
    from app.models import AppUser

    with app.app_context():
        user_id = db.session.query(AppUser.id).filter_by(username=username).scalar()
        db.session.remove()
    return user_id


@pytest.mark.commits  # counts a real transaction's statements (no test SAVEPOINT)
def test_item17_loader_is_one_statement_with_roles(app):
    user_id = _staff_user_id(app)
    statements, (roles, groups) = _loader_statements(app, user_id)
    assert roles == ["审核人员"]
    assert groups == []
    assert len(statements) == 1, [s for s, _ in statements]
    sql = statements[0][0]
    assert "ab_user_role" in sql and "ab_user_group" in sql


@pytest.mark.commits  # counts a real transaction's statements (no test SAVEPOINT)
def test_item17_loader_keeps_a_user_without_roles(app):
    """Flat LEFT JOINs, not inner joins: an account with no role still loads."""
    from app.extensions import db
    from app.models import AppUser

    with app.app_context():
        user = AppUser(username="item17-noroles", first_name="无角色", last_name="-",
                       email="item17-noroles@example.invalid", active=True)
        db.session.add(user)
        db.session.commit()
        user_id = user.id
        db.session.remove()
    statements, (roles, groups) = _loader_statements(app, user_id)
    assert (roles, groups) == ([], [])
    assert len(statements) == 1


@pytest.mark.commits  # explains the loader's statements on a connection of its own
def test_item17_loader_plan_never_scans_ab_user_role(app):
    """EXPLAIN QUERY PLAN of the exact SQL the loader emits, with ab_user_role holding more
    rows than ab_role and ANALYZE'd statistics (in a transaction rolled back at the end)."""
    from app.extensions import db

    user_id = _staff_user_id(app)
    statements, _ = _loader_statements(app, user_id)
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's planner; PostgreSQL: test_item17_loader_plan_can_use_indexes_on_postgresql")
        with db.engine.connect() as conn:
            trans = conn.begin()
            try:
                role_id = conn.execute(text("SELECT id FROM ab_role WHERE name = '专家'")).scalar()
                first = conn.execute(text("SELECT coalesce(max(id), 0) FROM ab_user")).scalar() + 1
                conn.execute(text(
                    "INSERT INTO ab_user (id, first_name, last_name, username, email, active)"
                    " VALUES (:id, '填充', '-', :u, :e, 1)"),
                    [{"id": i, "u": f"item17-{i}", "e": f"item17-{i}@example.invalid"}
                     for i in range(first, first + FILLER_USERS)])
                conn.execute(text("INSERT INTO ab_user_role (user_id, role_id) VALUES (:u, :r)"),
                             [{"u": i, "r": role_id} for i in range(first, first + FILLER_USERS)])
                conn.execute(text("ANALYZE"))
                plans = []
                for statement, parameters in statements:
                    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                parameters).all()
                    plans.append("\n".join(str(r[-1]) for r in rows))
            finally:
                trans.rollback()
    joined = "\n".join(plans)
    for table in ROLE_TABLES:
        # An alias (ab_user_role_1) is the same table.
        assert not re.search(rf"\bSCAN {table}(_\d+)?\b", joined), joined
    assert re.search(r"SEARCH ab_user_role(_\d+)? USING (COVERING )?INDEX", joined), joined


@pytest.mark.commits  # explains the loader's statements on a connection of its own
def test_item17_loader_plan_can_use_indexes_on_postgresql(app):
    """PostgreSQL: with sequential scans priced out (the test tables are tiny), every link of
    the loader's join is an index lookup."""
    from app.extensions import db

    user_id = _staff_user_id(app)
    statements, _ = _loader_statements(app, user_id)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only")
        with db.engine.connect() as conn:
            trans = conn.begin()
            try:
                conn.execute(text("SET LOCAL enable_seqscan = off"))
                plan = "\n".join(
                    row[0] for statement, parameters in statements
                    for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters).all())
            finally:
                trans.rollback()
    for table in ROLE_TABLES:
        assert f"Seq Scan on {table}" not in plan, plan
    assert re.search(r"(Index (Only )?Scan using \S+|Bitmap Heap Scan) on ab_user_role", plan), plan


def test_item17_signed_in_request_loads_account_once(app, client):
    """A staff page: the account (with roles and groups) is one statement of the request."""
    from app.extensions import db

    login_staff(client)
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        resp = client.get("/prefectureadminview/list/")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert resp.status_code == 200
    touching = [s for s in seen if re.search(r"\bab_user_(role|group)\b", s)]
    assert len(touching) == 1, touching
