"""Account screens: 修改密码 (forced at first login)."""
from __future__ import annotations

from flask import flash, redirect, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField

from app.audit_hooks import current_actor
from app.extensions import db
from app.models import utcnow
from app.security import start_session
from app.services import audit, sessions
from app.services.accounts import FieldErrors, change_password
from app.services.audit import Action
from app.views import add_menu_view


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("原密码")
    new_password = PasswordField("新密码")
    confirm_password = PasswordField("确认密码")


class AccountView(BaseView):
    route_base = "/account"
    class_permission_name = "Account"
    audience = "everyone"
    default_view = "change_password"

    @expose("/password", methods=["GET", "POST"])
    @has_access
    def change_password(self):
        form = ChangePasswordForm()
        if form.validate_on_submit():
            user = db.session.get(type(current_user._get_current_object()), current_user.id)
            try:
                change_password(
                    user, form.current_password.data, form.new_password.data,
                    form.confirm_password.data,
                )
            except FieldErrors as exc:
                for name, message in exc.errors.items():
                    getattr(form, name).errors = [message]
            else:
                audit.record(db.session, Action.PASSWORD_CHANGED, actor=current_actor(),
                             object_type="用户", object_id=user.username)
                db.session.commit()
                # every other browser signed in with the old password is signed out
                sessions.end_all(db.session, user.id, utcnow(), "修改密码")
                start_session(user)
                flash("密码修改成功", "success")
                return redirect(url_for("HomeIndexView.index"))
        return self.render_template(
            "account/change_password.html", form=form,
            forced=bool(getattr(current_user, "must_change_password", False)),
        )


def register(appbuilder) -> None:
    add_menu_view(appbuilder, AccountView, "修改密码", category="个人中心", icon="fa-key")


