"""【个人中心】: 基本资料 (phone, e-mail, avatar) and 修改密码 (forced at first login)."""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import PasswordField, StringField

from app.extensions import db
from app.models import utcnow
from app.security import start_session
from app.services import audit, sessions
from app.services.access import own_expert
from app.services.accounts import FieldErrors, change_password, update_basic_profile
from app.services.audit import Action
from app.services.audit_hooks import current_actor
from app.services.uploads import UploadRejected
from app.views.base import save_upload


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("原密码")
    new_password = PasswordField("新密码")
    confirm_password = PasswordField("确认密码")


class BasicProfileForm(FlaskForm):
    phone = StringField("手机号码")
    email = StringField("电子邮箱")
    avatar = FileField("头像")


class AccountView(BaseView):
    route_base = "/account"
    class_permission_name = "Account"
    audience = "everyone"
    default_view = "center"

    def _user(self):
        return db.session.get(type(current_user._get_current_object()), current_user.id)

    @expose("/", methods=["GET", "POST"])
    @has_access
    def center(self):
        """个人中心 → 基本资料: phone, e-mail and avatar of the signed-in account. An
        uploaded avatar is kept even when the form comes back with errors: the page is
        answered normally, and the request commits it."""
        user = self._user()
        expert = own_expert(db.session, user)
        holder = expert if expert is not None else user
        form = BasicProfileForm()
        if request.method == "GET":
            form.phone.data = holder.phone or ""
            form.email.data = "" if (holder.email or "").endswith("@expert.invalid") else holder.email
        elif form.validate_on_submit():
            avatar = None
            upload = request.files.get("avatar")
            try:
                if upload is not None and upload.filename:
                    avatar = save_upload(upload, "avatar", user.id)
                changed = update_basic_profile(db.session, user, phone=form.phone.data,
                                               email=form.email.data, avatar=avatar)
            except UploadRejected as exc:
                form.avatar.errors = [exc.message]
            except FieldErrors as exc:  # refused before anything was changed
                for name, message in exc.errors.items():
                    getattr(form, name).errors = [message]
            else:
                flash("基本资料已保存" if changed else "没有需要保存的修改", "success")
                return redirect(url_for(".center"))
        return self.render_template("account/center.html", form=form, user=user, expert=expert,
                                    tab="basic")

    @expose("/password", methods=["GET", "POST"])
    @has_access
    def change_password(self):
        form = ChangePasswordForm()
        if form.validate_on_submit():
            user = self._user()
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
                # every other browser signed in with the old password is signed out
                sessions.end_all(db.session, user.id, utcnow(), "修改密码")
                start_session(user)
                flash("密码修改成功", "success")
                return redirect(url_for("HomeIndexView.index"))
        return self.render_template(
            "account/change_password.html", form=form, tab="password",
            forced=bool(getattr(current_user, "must_change_password", False)),
        )


def register(appbuilder) -> None:
    # reached from the icon at the top right (【个人中心】 and 【退出登录】), as in the manual
    appbuilder.add_view_no_menu(AccountView)


