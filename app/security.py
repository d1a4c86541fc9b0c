"""Our security manager: the manual's login (专家 / 管理人员, account = pinyin or phone)."""
from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import AuthDBView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from app.models import AppUser, Expert
from app.services.roles import ROLE_EXPERT, STAFF_ROLES
from app.services.validators import looks_like_phone, normalize_phone

LOGIN_FAILED = "账号或密码错误，请重新输入"
LOGIN_KINDS = {"expert": "专家", "staff": "管理人员"}


class LoginForm(FlaskForm):
    username = StringField("账号", validators=[DataRequired(message="请输入账号")])
    password = PasswordField("密码", validators=[DataRequired(message="请输入密码")])


def user_is_expert(user: AppUser) -> bool:
    return any(r.name == ROLE_EXPERT for r in user.roles)


def user_is_staff(user: AppUser) -> bool:
    return any(r.name in STAFF_ROLES for r in user.roles)


class LoginView(AuthDBView):
    """【专家】 or 管理人员, then 【账号密码登录】; 退出登录 only by POST."""

    login_template = "account/login.html"
    invalid_login_message = LOGIN_FAILED
    title = "登录"

    @expose("/login/", methods=["GET", "POST"])
    def login(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm()
        kind = request.values.get("login_kind", "expert")
        if kind not in LOGIN_KINDS:
            kind = "expert"
        if form.validate_on_submit():
            user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            # An account may only sign in on its own tab; the message does not say why.
            if user and not (user_is_expert(user) if kind == "expert" else user_is_staff(user)):
                user = None
            if user:
                login_user(user, remember=False)
                if user.must_change_password:
                    flash("首次登录请立即修改密码", "warning")
                    return redirect(url_for("AccountView.change_password"))
                next_url = get_safe_redirect(request.args.get("next", ""))
                return redirect(next_url)
            form.password.errors = [LOGIN_FAILED]
        resp = self.render_template(
            self.login_template, title=self.title, form=form, appbuilder=self.appbuilder,
            login_kind=kind, login_kinds=LOGIN_KINDS,
        )
        return resp

    @expose("/logout/", methods=["POST"])
    def logout(self):
        logout_user()
        return redirect(url_for(f"{self.endpoint}.login"))


class ExpertSecurityManager(SecurityManager):
    user_model = AppUser
    authdbview = LoginView

    def auth_user_db(self, username, password):
        """Experts may also sign in with their mobile number."""
        username = (username or "").strip()
        if looks_like_phone(username):
            user_id = (
                self.session.query(Expert.user_id)
                .filter(Expert.phone == normalize_phone(username))
                .scalar()
            )
            if user_id:
                user = self.session.get(AppUser, user_id)
                if user is not None:
                    username = user.username
        return super().auth_user_db(username, password)
