"""The per-test transaction (tests/conftest.py ``rolled_back``) does what the suite relies
on: the app's commits are seen by the next session of the same test, a session's rollback
undoes only its own work, and nothing is left once the test's transaction ends."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import rolled_back


def _prefecture_names(app, prefix: str) -> list[str]:
    from app.extensions import db
    from app.models import Prefecture

    with app.app_context():
        names = db.session.scalars(select(Prefecture.name).where(Prefecture.name.startswith(prefix))
                                   .order_by(Prefecture.name)).all()
        db.session.remove()
    return list(names)


def _add_prefecture(app, name: str, code: str, commit: bool = True) -> None:
    from app.extensions import db
    from app.models import Prefecture

    with app.app_context():
        db.session.add(Prefecture(name=name, code=code))
        if commit:
            db.session.commit()
        else:
            db.session.flush()
            db.session.rollback()
        db.session.remove()


@pytest.mark.commits  # it opens the rolled-back transaction itself, to look after it ended
def test_commits_inside_are_kept_until_the_end_and_then_gone(app):
    with rolled_back(app):
        _add_prefecture(app, "隔离测试甲", "990001")
        _add_prefecture(app, "隔离测试乙", "990002", commit=False)  # rolled back by itself
        _add_prefecture(app, "隔离测试丙", "990003")
        assert _prefecture_names(app, "隔离测试") == ["隔离测试丙", "隔离测试甲"]
    assert _prefecture_names(app, "隔离测试") == []


def test_a_test_sees_only_its_own_rows(app):
    _add_prefecture(app, "隔离测试丁", "990004")
    assert _prefecture_names(app, "隔离测试") == ["隔离测试丁"]
