"""系统管理 → 锁定账号: accounts locked by failed logins, and 解锁 (管理员 only)."""
from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access

from app.extensions import db
from app.models import AppUser, utcnow
from app.security import login_policy, throttle_store
from app.services import audit, login_guard
from app.services.audit import Action
from app.services.audit_hooks import current_actor
from app.views.base import add_menu_view


class LockedAccountView(BaseView):
    route_base = "/locks"
    class_permission_name = "LockedAccount"
    # no audience: only the 管理员 role, which holds every permission, gets this screen
    default_view = "list"

    @expose("/")
    @has_access
    def list(self):
        rows = login_guard.locked_account_rows(db.session, throttle_store(), utcnow(),
                                               login_policy())
        return self.render_template("locks/list.html", rows=rows, title="锁定账号")

    @expose("/unlock/<int:user_id>", methods=["POST"])
    @has_access
    def unlock(self, user_id: int):
        user = db.session.get(AppUser, user_id)
        if user is None:
            abort(404)
        store = throttle_store()
        was_locked = login_guard.is_locked(store, user_id, utcnow())
        login_guard.unlock(store, user_id)
        audit.record(db.session, Action.UNLOCKED, actor=current_actor(), object_type="用户",
                     object_id=user.username, detail=None if was_locked else "账号未锁定")
        flash("已解锁", "success")
        return redirect(url_for(".list"))


def register(appbuilder) -> None:
    add_menu_view(appbuilder, LockedAccountView, "锁定账号", category="系统管理",
                  icon="fa-unlock", category_icon="fa-cogs")
