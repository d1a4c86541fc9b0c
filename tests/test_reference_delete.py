"""Item 15 of issue 11: SQLite enforces foreign keys, and a reference row in use (a 课程 with
enrolments, a 市州 or 职称 of experts) is not deleted: the staff list says why in Chinese
(and offers 停用 where the row has a 启用 flag), never a 500, on both databases."""
from __future__ import annotations

import datetime as dt
import itertools
import sqlite3

import pytest
from sqlalchemy import text

from app.models import ExpertStatus, utcnow
from tests.conftest import login_expert, login_staff, page_text

_n = itertools.count(1)


def _prefecture(app, name: str | None = None) -> int:
    from app.extensions import db
    from app.models import Prefecture

    n = next(_n)
    with app.app_context():
        row = Prefecture(code=f"9{n:03d}{n % 100:02d}"[:6], name=name or f"测试市州{n}", kind="地级市")
        db.session.add(row)
        db.session.commit()
        pk = row.id
        db.session.remove()
    return pk


def _exists(app, model_name: str, pk: int) -> bool:
    from app import models
    from app.extensions import db

    with app.app_context():
        found = db.session.get(getattr(models, model_name), pk) is not None
        db.session.remove()
    return found


def _delete(client, view: str, pk: int):
    """Staff press 删除 on the list; returns the page the redirect lands on (the list)."""
    assert client.get(f"/{view}/list/").status_code == 200
    resp = client.post(f"/{view}/delete/{pk}")
    assert resp.status_code == 302, resp.status_code
    assert f"/{view}/list/" in resp.headers["Location"]
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200
    return page


@pytest.fixture
def course_in_use(app, make_expert):
    """An admitted expert enrolled in a course of an open round: (account, round id, course id)."""
    from app.extensions import db
    from app.models import Course, Enrollment, Expert, TrainingRound

    account = make_expert("课程使用者", status=ExpertStatus.ADMITTED)
    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        expert.expert_no = f"XJ2097{account.expert_id:06d}"
        expert.admission_batch = f"删除测试批{account.expert_id}"
        now = utcnow()
        rnd = TrainingRound(name=f"删除测试批次{account.expert_id}",
                            admission_batches=expert.admission_batch,
                            enroll_start=now - dt.timedelta(days=1),
                            enroll_end=now + dt.timedelta(days=30), fee_fen=30000)
        course = Course(round=rnd, name=f"在用课程{account.expert_id}", required_minutes=60)
        db.session.add_all([rnd, course])
        db.session.flush()
        db.session.add(Enrollment(expert_id=expert.id, course_id=course.id, attempt_no=1,
                                  created_at=now))
        db.session.commit()
        ids = rnd.id, course.id
        db.session.remove()
    return (account, *ids)


def test_item15_sqlite_connections_enforce_foreign_keys(app):
    from app.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL always enforces foreign keys")
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_item15_deleting_a_course_in_use_is_refused_and_the_expert_page_still_works(
        app, course_in_use):
    account, _, course_id = course_in_use
    staff = app.test_client()
    login_staff(staff)
    page = _delete(staff, "courseadminview", course_id)
    assert "该课程已被使用（专家培训记录 1 条），不能删除。" in page_text(page)
    assert _exists(app, "Course", course_id)

    expert = app.test_client()
    login_expert(expert, account)
    mine = expert.get("/training/")
    assert mine.status_code == 200
    assert f"在用课程{account.expert_id}" in page_text(mine)


def test_item15_deleting_a_round_in_use_offers_to_deactivate_it(app, course_in_use):
    _, round_id, _ = course_in_use
    staff = app.test_client()
    login_staff(staff)
    page = _delete(staff, "trainingroundadminview", round_id)
    assert ("该培训批次已被使用（课程 1 条），不能删除。如不再使用，请将其停用（取消勾选“启用”）。"
            in page_text(page))
    assert _exists(app, "TrainingRound", round_id)


def test_item15_deleting_a_prefecture_of_experts_is_refused(app, make_expert):
    name = f"在用市州{next(_n)}"
    pk = _prefecture(app, name)
    make_expert("市州使用者", prefecture=name)
    staff = app.test_client()
    login_staff(staff)
    text_ = page_text(_delete(staff, "prefectureadminview", pk))
    # 市州 has no 启用 flag: nothing to offer instead
    assert "该市州已被使用（专家 1 条），不能删除。" in text_ and "停用" not in text_
    assert _exists(app, "Prefecture", pk)


def test_item15_deleting_a_title_of_experts_is_refused(app, make_expert):
    from app.extensions import db
    from app.models import Expert, Title, TitleLevel

    account = make_expert("职称使用者")
    with app.app_context():
        title = Title(name=f"测试职称{next(_n)}", level=db.session.query(TitleLevel).first())
        db.session.add(title)
        db.session.get(Expert, account.expert_id).title = title
        db.session.commit()
        pk = title.id
        db.session.remove()
    staff = app.test_client()
    login_staff(staff)
    assert "该职称已被使用（专家 1 条），不能删除。" in page_text(_delete(staff, "titleadminview", pk))
    assert _exists(app, "Title", pk)


def test_item15_an_unused_reference_row_is_deleted(app):
    pk = _prefecture(app)
    staff = app.test_client()
    login_staff(staff)
    assert "删除成功" in page_text(_delete(staff, "prefectureadminview", pk))
    assert not _exists(app, "Prefecture", pk)


def test_item15_integrity_error_at_delete_gives_the_same_message(app, make_expert, monkeypatch):
    """A row pointed at after the check (another worker, at the same moment): the database's
    foreign key refuses the delete, on SQLite as on PostgreSQL, and the staff member reads the
    same message as when the check catches it."""
    from app.services import reference

    name = f"并发市州{next(_n)}"
    pk = _prefecture(app, name)
    make_expert("并发使用者", prefecture=name)
    real, calls = reference.delete_refusal, []

    def first_check_misses(session, item, what):
        calls.append(what)
        return None if len(calls) == 1 else real(session, item, what)

    monkeypatch.setattr(reference, "delete_refusal", first_check_misses)
    staff = app.test_client()
    login_staff(staff)
    page = _delete(staff, "prefectureadminview", pk)
    assert len(calls) == 2  # the database refused, and the message was built again
    assert "该市州已被使用（专家 1 条），不能删除。" in page_text(page)
    assert _exists(app, "Prefecture", pk)


def test_item15_migrations_on_sqlite_keep_rows_with_foreign_keys_on(tmp_path):
    """Batch migrations recreate tables (copy, DROP, rename). With foreign keys on, SQLite's
    DROP deleted the rows first and cascaded: rebuilding ab_user emptied ab_user_role."""
    from flask_migrate import downgrade, upgrade

    from app import create_app
    from app.extensions import db

    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}",
                        "UPLOAD_FOLDER": str(tmp_path / "uploads")})
    with other.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO ab_role (id, name) VALUES (1, '迁移测试')"))
            conn.execute(text("INSERT INTO ab_user (id, first_name, last_name, username, email,"
                              " active) VALUES (1, '迁', '移', 'mig', 'mig@example.invalid', 1)"))
            conn.execute(text("INSERT INTO ab_user_role (user_id, role_id) VALUES (1, 1)"))
        # a row the old code left dangling (foreign keys off): reported, not the migration's fault
        raw = sqlite3.connect(tmp_path / "m.db")
        raw.execute("INSERT INTO ab_user_role (user_id, role_id) VALUES (1, 999)")
        raw.commit()
        raw.close()
        downgrade(revision="de7104b16d9b")  # 7dc6a064d3ce rebuilds ab_user both ways
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT role_id FROM ab_user_role ORDER BY role_id")
                                ).scalars().all() == [1, 999]
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        db.session.remove()
        db.engine.dispose()
