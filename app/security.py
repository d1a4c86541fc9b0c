"""Our security manager: the manual's login (专家 / 管理人员, account = pinyin or phone),
lockout after repeated failures on every login path, server-side sessions."""
from __future__ import annotations

import io
import secrets

from flask import (
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    request,
    send_file,
    session,
    url_for,
)
from flask_appbuilder import expose
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import (
    Group,
    Permission,
    PermissionView,
    Role,
    ViewMenu,
    assoc_permissionview_role,
    assoc_user_group,
    assoc_user_role,
)
from flask_appbuilder.security.views import AuthDBView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import contains_eager
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from app.audit_hooks import client_ip
from app.extensions import db
from app.models import AppUser, Expert, utcnow
from app.services import audit, login_guard, sessions
from app.services.audit import Action, Actor
from app.services.roles import ROLE_EXPERT, STAFF_ROLES
from app.services.validators import looks_like_phone, normalize_phone

LOGIN_FAILED = "账号或密码错误，请重新输入"
LOGIN_KINDS = {"expert": "专家", "staff": "管理人员"}
CAPTCHA_CHARS = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
SESSION_TOKEN = "sid"


class LoginForm(FlaskForm):
    username = StringField("账号", validators=[DataRequired(message="请输入账号")])
    password = PasswordField("密码", validators=[DataRequired(message="请输入密码")])
    captcha = StringField("验证码")


def user_is_expert(user: AppUser) -> bool:
    return any(r.name == ROLE_EXPERT for r in user.roles)


def user_is_staff(user: AppUser) -> bool:
    return any(r.name in STAFF_ROLES for r in user.roles)


def throttle_store() -> login_guard.ThrottleStore:
    """Redis when REDIS_URL is set (shared by every worker), else the database."""
    url = current_app.config.get("REDIS_URL")
    if url:
        client = current_app.extensions.get("login_redis")
        if client is None:
            import redis

            client = redis.Redis.from_url(url, socket_timeout=2)
            current_app.extensions["login_redis"] = client
        return login_guard.RedisThrottleStore(client)
    return login_guard.DatabaseThrottleStore(db.session)


def login_policy() -> login_guard.Policy:
    cfg = current_app.config
    return login_guard.Policy(
        max_failures=cfg["LOGIN_MAX_FAILURES"], max_failures_per_ip=cfg["LOGIN_MAX_FAILURES_PER_IP"],
        lock_minutes=cfg["LOGIN_LOCK_MINUTES"], captcha_after=cfg["LOGIN_CAPTCHA_AFTER"])


def start_session(user: AppUser) -> None:
    session[SESSION_TOKEN] = sessions.start(db.session, user.id, client_ip(), utcnow())


def end_session(reason: str) -> None:
    sessions.end(db.session, session.get(SESSION_TOKEN), utcnow(), reason)
    logout_user()
    session.clear()


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
        store, policy = throttle_store(), login_policy()
        typed = (form.username.data or "").strip() if request.method == "POST" else None
        need_captcha = login_guard.needs_captcha(store, typed, client_ip(), policy)
        if form.validate_on_submit() and self._captcha_ok(form, need_captcha):
            user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            # An account may only sign in on its own tab; the message does not say why.
            if user and not (user_is_expert(user) if kind == "expert" else user_is_staff(user)):
                user = None
            if user:
                session.pop("captcha", None)
                login_user(user, remember=False)
                start_session(user)
                if user.must_change_password:
                    flash("首次登录请立即修改密码", "warning")
                    return redirect(url_for("AccountView.change_password"))
                next_url = request.args.get("next")
                return redirect(get_safe_redirect(next_url) if next_url else url_for(
                    "HomeIndexView.index"))
            form.password.errors = [LOGIN_FAILED]
            need_captcha = login_guard.needs_captcha(store, typed, client_ip(), policy)
        form.captcha.data = ""
        return self.render_template(
            self.login_template, title=self.title, form=form, appbuilder=self.appbuilder,
            login_kind=kind, login_kinds=LOGIN_KINDS, need_captcha=need_captcha,
        )

    @staticmethod
    def _captcha_ok(form: LoginForm, needed: bool) -> bool:
        if not needed:
            return True
        expected = session.pop("captcha", None)
        typed = (form.captcha.data or "").strip().upper()
        if not typed:
            form.captcha.errors = ["请输入验证码"]
            return False
        if not expected or not secrets.compare_digest(typed, expected):
            form.captcha.errors = ["验证码错误，请重新输入"]
            return False
        return True

    @expose("/login/captcha.png")
    def captcha(self):
        """An image captcha drawn here (no outside service): the intranet has none."""
        from captcha.image import ImageCaptcha

        code = "".join(secrets.choice(CAPTCHA_CHARS) for _ in range(4))
        session["captcha"] = code
        image = ImageCaptcha(width=160, height=60).generate(code)
        resp = send_file(io.BytesIO(image.read()), mimetype="image/png")
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @expose("/logout/", methods=["POST"])
    def logout(self):
        user = self._get_authenticated_user()
        if user is not None:
            audit.record(db.session, Action.LOGOUT, actor=Actor(user.id, user.username, client_ip()),
                         object_type="用户", object_id=user.username)
        end_session("退出登录")
        return redirect(url_for(f"{self.endpoint}.login"))


class ExpertSecurityManager(SecurityManager):
    user_model = AppUser
    authdbview = LoginView

    def get_user_by_id(self, pk):
        """The signed-in account with its roles and groups in one query (Flask-Login loads
        it on every request; lazily, the roles and the groups cost a query each).

        Written as flat LEFT JOINs: joinedload's nested form, ``ab_user LEFT OUTER JOIN
        (ab_user_role JOIN ab_role ...)``, made SQLite 3.40 materialise the inner join and
        scan all of ab_user_role (300 ms a request at 1M experts); chained, each link is
        an index lookup on (user_id, ...). A group's own roles are loaded only if the
        account has groups (none do today)."""
        return self.session.execute(
            select(AppUser).where(AppUser.id == pk)
            .outerjoin(assoc_user_role, assoc_user_role.c.user_id == AppUser.id)
            .outerjoin(Role, Role.id == assoc_user_role.c.role_id)
            .outerjoin(assoc_user_group, assoc_user_group.c.user_id == AppUser.id)
            .outerjoin(Group, Group.id == assoc_user_group.c.group_id)
            .options(contains_eager(AppUser.roles),
                     contains_eager(AppUser.groups).selectinload(Group.roles))
        ).unique().scalar_one_or_none()

    def exist_permission_on_roles(self, view_name, permission_name, role_ids) -> bool:
        """FAB asks the database once per menu item and button (30+ queries a page);
        here the roles' permissions are read once per request and looked up in memory."""
        if not has_request_context():
            return super().exist_permission_on_roles(view_name, permission_name, role_ids)
        key = tuple(sorted(role_ids))
        cache = g.setdefault("role_permissions", {})
        if key not in cache:
            rows = self.session.execute(
                select(Permission.name, ViewMenu.name)
                .select_from(PermissionView)
                .join(assoc_permissionview_role,
                      assoc_permissionview_role.c.permission_view_id == PermissionView.id)
                .join(Permission, Permission.id == PermissionView.permission_id)
                .join(ViewMenu, ViewMenu.id == PermissionView.view_menu_id)
                .where(assoc_permissionview_role.c.role_id.in_(key))
            ).all()
            cache[key] = frozenset((perm, view) for perm, view in rows)
        return (permission_name, view_name) in cache[key]

    def auth_user_db(self, username, password):
        """Every login path (web form, API) comes here: phone numbers are accepted as
        accounts, and failures are counted and locked out before any password check."""
        username = (username or "").strip()
        if looks_like_phone(username):
            user_id = (
                self.session.query(Expert.user_id)
                .filter(Expert.phone == normalize_phone(username))
                .scalar()
            )
            user = self.session.get(AppUser, user_id) if user_id else None
            if user is not None:
                username = user.username
        store, policy, ip, now = throttle_store(), login_policy(), client_ip(), utcnow()
        actor = Actor(None, username[:128], ip)
        if login_guard.is_locked(store, username, ip, now):
            # Same answer, same cost as a wrong password: nothing tells a lock apart.
            check_password_hash(current_app.config["AUTH_DB_FAKE_PASSWORD_HASH_CHECK"], "x")
            audit.record(self.session, Action.LOGIN_FAILED, actor=actor, object_type="用户",
                         object_id=username, detail="账号或IP已锁定")
            self.session.commit()
            return None
        user = super().auth_user_db(username, password)
        if user is not None:
            login_guard.register_success(store, username, ip)
            audit.record(self.session, Action.LOGIN, actor=Actor(user.id, user.username, ip),
                         object_type="用户", object_id=user.username)
        else:
            newly_locked = login_guard.register_failure(store, username, ip, now, policy)
            audit.record(self.session, Action.LOGIN_FAILED, actor=actor, object_type="用户",
                         object_id=username)
            if newly_locked:
                audit.record(self.session, Action.LOCKED, actor=actor, object_type="用户",
                             object_id=username,
                             detail=f"连续{policy.max_failures}次登录失败，锁定{policy.lock_minutes}分钟")
        self.session.commit()
        return user
