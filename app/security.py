"""Our security manager: the manual's login (专家 / 管理人员, account = pinyin or phone),
lockout per person after repeated failures on every login path, a server-side captcha,
server-side sessions (also behind the optional JWT API)."""
from __future__ import annotations

import io
import logging
import secrets
from typing import Any

import redis
from captcha.image import ImageCaptcha
from flask import (
    Response,
    current_app,
    flash,
    g,
    has_app_context,
    has_request_context,
    redirect,
    request,
    send_file,
    session,
    url_for,
)
from flask_appbuilder import expose
from flask_appbuilder.const import (
    API_SECURITY_ACCESS_TOKEN_KEY,
    API_SECURITY_PROVIDER_DB,
    API_SECURITY_REFRESH_TOKEN_KEY,
)
from flask_appbuilder.security.api import SecurityApi
from flask_appbuilder.security.schemas import login_post
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
from flask_appbuilder.security.views import (
    AuthDBView,
    PermissionModelView,
    PermissionViewModelView,
    RoleModelView,
    UserDBModelView,
    UserGroupModelView,
    ViewMenuModelView,
)
from flask_appbuilder.utils.base import get_safe_redirect
from flask_appbuilder.widgets import ListWidget, ShowWidget
from flask_babel import gettext, lazy_gettext
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    get_jwt,
    get_jwt_identity,
    verify_jwt_in_request,
)
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from marshmallow import ValidationError as MarshmallowValidationError
from sqlalchemy import select
from sqlalchemy.orm import contains_eager
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from app.extensions import db
from app.models import AppUser, Expert, local_time, utcnow
from app.services import audit, login_guard, sessions, settings
from app.services.access import SESSION_TOKEN, SessionLimits, check_session
from app.services.audit import Action, Actor
from app.services.audit_hooks import client_ip, current_actor
from app.services.roles import ROLE_EXPERT, STAFF_ROLES
from app.services.validators import looks_like_phone, normalize_phone

LOGIN_FAILED = "账号或密码错误，请重新输入"
LOGIN_KINDS = {"expert": "专家", "staff": "管理人员"}
CAPTCHA_CHARS = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CAPTCHA_FIELDS = ("captcha_id", "captcha")

log = logging.getLogger(__name__)


class LoginForm(FlaskForm):
    username = StringField("账号", validators=[DataRequired(message="请输入账号")])
    password = PasswordField("密码", validators=[DataRequired(message="请输入密码")])
    captcha = StringField("验证码")


def user_is_expert(user: AppUser) -> bool:
    return any(r.name == ROLE_EXPERT for r in user.roles)


def user_is_staff(user: AppUser) -> bool:
    return any(r.name in STAFF_ROLES for r in user.roles)


def _redis_client():
    """One client per app (its pool is shared by the threads of a worker), or None."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get("login_redis")
    if client is None or current_app.extensions.get("login_redis_url") != url:
        client = redis.Redis.from_url(url, socket_timeout=2)
        current_app.extensions["login_redis"] = client
        current_app.extensions["login_redis_url"] = url
    return client


def throttle_store() -> login_guard.ThrottleStore:
    """Redis when REDIS_URL is set (shared by every worker), else the database."""
    client = _redis_client()
    if client is not None:
        return login_guard.RedisThrottleStore(client, current_app.config["LOGIN_REDIS_PREFIX"])
    return login_guard.DatabaseThrottleStore(db.session)


def captcha_store() -> login_guard.CaptchaStore:
    client = _redis_client()
    if client is not None:
        return login_guard.RedisCaptchaStore(client, current_app.config["LOGIN_REDIS_PREFIX"])
    return login_guard.DatabaseCaptchaStore(db.session)


def login_policy() -> login_guard.Policy:
    cfg = settings.config()
    return login_guard.Policy(
        max_failures=cfg["LOGIN_MAX_FAILURES"], lock_minutes=cfg["LOGIN_LOCK_MINUTES"],
        captcha_after=cfg["LOGIN_CAPTCHA_AFTER"], captcha_per_ip=cfg["LOGIN_CAPTCHA_PER_IP"])


def captcha_answer_ok(captcha_id: str | None, typed: str | None) -> str | None:
    """None when the typed captcha is the answer of ``captcha_id`` (used up either way),
    else the message to show."""
    # an API client's JSON may carry anything in these fields
    typed = typed.strip().upper() if isinstance(typed, str) else ""
    if not typed:
        return "请输入验证码"
    expected = captcha_store().take(captcha_id, utcnow()) if isinstance(
        captcha_id, str) and captcha_id else None
    if not expected or not secrets.compare_digest(typed, expected):
        return "验证码错误，请重新输入"
    return None


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
        sm = self.appbuilder.sm
        store, policy = throttle_store(), login_policy()
        typed = (form.username.data or "").strip() if request.method == "POST" else None
        subject = sm.login_subject(typed) if typed else None
        need_captcha = login_guard.needs_captcha(store, subject, client_ip(), policy)
        if form.validate_on_submit() and self._captcha_ok(form, need_captcha):
            user = sm.auth_user_db(form.username.data, form.password.data)
            # An account may only sign in on its own tab; the message does not say why.
            if user and not (user_is_expert(user) if kind == "expert" else user_is_staff(user)):
                user = None
            if user:
                login_user(user, remember=False)
                start_session(user)
                if user.must_change_password:
                    flash("首次登录请立即修改密码", "warning")
                    return redirect(url_for("AccountView.change_password"))
                next_url = request.args.get("next")
                return redirect(get_safe_redirect(next_url) if next_url else url_for(
                    "HomeIndexView.index"))
            form.password.errors = [LOGIN_FAILED]
            need_captcha = login_guard.needs_captcha(store, subject, client_ip(), policy)
        form.captcha.data = ""
        return self.render_template(
            self.login_template, title=self.title, form=form, appbuilder=self.appbuilder,
            login_kind=kind, login_kinds=LOGIN_KINDS, need_captcha=need_captcha,
        )

    @staticmethod
    def _captcha_ok(form: LoginForm, needed: bool) -> bool:
        if not needed:
            return True
        message = captcha_answer_ok(session.pop("captcha_id", None), form.captcha.data)
        if message:
            form.captcha.errors = [message]
            return False
        return True

    @expose("/login/captcha.png")
    def captcha(self):
        """An image captcha drawn here (no outside service): the intranet has none. Its
        answer stays on the server; the cookie (and, for API clients, the X-Captcha-Id
        header) carries only an opaque id."""
        code = "".join(secrets.choice(CAPTCHA_CHARS) for _ in range(4))
        captcha_id = captcha_store().put(code, utcnow(), login_guard.CAPTCHA_TTL)
        session["captcha_id"] = captcha_id
        image = ImageCaptcha(width=160, height=60).generate(code)
        resp = send_file(io.BytesIO(image.read()), mimetype="image/png")
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Captcha-Id"] = captcha_id
        return resp

    @expose("/logout/", methods=["POST"])
    def logout(self):
        user = self._get_authenticated_user()
        if user is not None:
            audit.record(db.session, Action.LOGOUT, actor=Actor(user.id, user.username, client_ip()),
                         object_type="用户", object_id=user.username)
            # signing out also ends the account's API tokens (its other browsers go on)
            sessions.end_all(db.session, user.id, utcnow(), "退出登录", kind=sessions.API)
        end_session("退出登录")
        return redirect(url_for(f"{self.endpoint}.login"))


def api_enabled() -> bool:
    return bool(current_app.config.get("LOGIN_API_ENABLED"))


class LoginApi(SecurityApi):
    """FAB's JWT login, off unless LOGIN_API_ENABLED (no data API of ours uses it: while
    off, both routes answer 404). When on, it faces the captcha rule of the web form, and
    each token belongs to a server-side session that logout, a password change or an
    administrator's reset ends."""

    @expose("/login", methods=["POST"])
    def login(self) -> Response:
        if not api_enabled():
            return self.response_404()
        if not request.is_json:
            return self.response_400(message="请求格式错误")
        body = request.json if isinstance(request.json, dict) else {}
        try:
            # FAB's schema refuses unknown fields: the captcha's are read apart
            payload = login_post.load({k: v for k, v in body.items() if k not in CAPTCHA_FIELDS})
        except MarshmallowValidationError:
            return self.response_400(message="请求格式错误")
        if payload["provider"] != API_SECURITY_PROVIDER_DB:
            return self.response_400(message="请求格式错误")
        sm = self.appbuilder.sm
        subject = sm.login_subject((payload["username"] or "").strip())
        if login_guard.needs_captcha(throttle_store(), subject, client_ip(), login_policy()):
            message = captcha_answer_ok(body.get("captcha_id"), body.get("captcha"))
            if message:
                return self.response(401, message=message)
        user = sm.auth_user_db(payload["username"], payload["password"])
        if not user:
            return self.response(401, message=LOGIN_FAILED)
        if user.must_change_password:
            return self.response(403, message="请先登录网页修改密码")
        token = sessions.start(db.session, user.id, client_ip(), utcnow(), kind=sessions.API)
        claims = {SESSION_TOKEN: token}
        resp = {API_SECURITY_ACCESS_TOKEN_KEY: create_access_token(
            identity=str(user.id), fresh=True, additional_claims=claims)}
        if payload.get("refresh"):
            resp[API_SECURITY_REFRESH_TOKEN_KEY] = create_refresh_token(
                identity=str(user.id), additional_claims=claims)
        return self.response(200, **resp)

    @expose("/refresh", methods=["POST"])
    def refresh(self) -> Response:
        if not api_enabled():
            return self.response_404()
        verify_jwt_in_request(refresh=True)
        claims = {SESSION_TOKEN: get_jwt()[SESSION_TOKEN]}
        return self.response(200, **{API_SECURITY_ACCESS_TOKEN_KEY: create_access_token(
            identity=get_jwt_identity(), fresh=False, additional_claims=claims)})

    @expose("/logout", methods=["POST"])
    def logout(self) -> Response:
        if not api_enabled():
            return self.response_404()
        verify_jwt_in_request(refresh=True)
        sessions.end(db.session, get_jwt()[SESSION_TOKEN], utcnow(), "退出登录")
        return self.response(200, message="已退出登录")


def jwt_session_ended(jwt_header: dict, jwt_payload: dict) -> bool:
    """flask-jwt-extended's revocation check: a token is dead once its session is (or when
    it has none, as FAB's own tokens)."""
    try:
        user_id = int(jwt_payload.get("sub"))
    except (TypeError, ValueError):
        return True
    token = jwt_payload.get(SESSION_TOKEN)
    if not api_enabled() or not token:
        return True
    return check_session(db.session, token, user_id, utcnow(),
                         SessionLimits.from_config(settings.config())) is not None


# --- 系统管理: FAB's user and role screens in Chinese words ------------------------------

ADMIN_CATEGORY = "系统管理"
# FAB's security menu items kept under 系统管理 (the others stay reachable by their URL).
SECURITY_MENU_ITEMS = ("List Users", "List Roles")

# Permission names in words on the 角色列表 screens ("can list on X" → "X：查看列表").
PERMISSION_WORDS = {
    "can_list": lazy_gettext("查看列表"), "can_show": lazy_gettext("查看详情"),
    "can_add": lazy_gettext("新增"), "can_edit": lazy_gettext("编辑"),
    "can_delete": lazy_gettext("删除"), "can_export": lazy_gettext("导出"),
    "menu_access": lazy_gettext("菜单"), "can_decide": lazy_gettext("审核"),
    "can_download": lazy_gettext("下载"), "can_userinfo": lazy_gettext("本人信息"),
    "resetmypassword": lazy_gettext("重置本人密码"), "resetpasswords": lazy_gettext("重置密码"),
    "userinfoedit": lazy_gettext("修改本人信息"), "copyrole": lazy_gettext("复制角色"),
    "can_this_form_get": lazy_gettext("打开表单"), "can_this_form_post": lazy_gettext("提交表单"),
    "can_chart": lazy_gettext("查看图表"), "can_get": lazy_gettext("读取"),
    "can_template": lazy_gettext("下载模板"), "can_upload": lazy_gettext("上传"),
    "can_profile": lazy_gettext("查看本人信息"), "can_start": lazy_gettext("开始申请"),
    "can_step": lazy_gettext("填写申请"), "can_form_pdf": lazy_gettext("下载申请表"),
    "can_application": lazy_gettext("查看申请"), "can_submit_exam": lazy_gettext("交卷"),
    "can_answer": lazy_gettext("答题"), "can_media": lazy_gettext("播放课程资料"),
    "can_exam": lazy_gettext("考试"), "can_index": lazy_gettext("打开页面"),
    "can_pay": lazy_gettext("缴费"), "can_study": lazy_gettext("学习"),
    "can_withdraw_transfer": lazy_gettext("撤回异动申请"),
    "can_info_pdf": lazy_gettext("下载信息表"), "can_transfer": lazy_gettext("申请异动"),
    "can_modify": lazy_gettext("申请修改信息"),
    "can_withdraw_specialty": lazy_gettext("撤回专业变更"),
    "can_image": lazy_gettext("查看证书图片"), "can_pdf": lazy_gettext("下载证书"),
    "can_revoke": lazy_gettext("作废"), "can_reissue": lazy_gettext("补发"),
    "can_status": lazy_gettext("查看进度"), "can_issue": lazy_gettext("发放"),
    "can_batch": lazy_gettext("查看批次"), "can_zip": lazy_gettext("打包下载"),
    "can_unlock": lazy_gettext("解锁"), "can_change_password": lazy_gettext("修改密码"),
    "can_center": lazy_gettext("个人中心"),
    "can_save": lazy_gettext("保存"), "can_seal": lazy_gettext("查看印章"),
    "can_refresh": lazy_gettext("刷新统计"),
}
# Screens without a menu item of their own (the others are named by their menu item).
VIEW_WORDS = {
    "ExportJob": lazy_gettext("导出任务进度"),
    "DashboardRefresh": lazy_gettext("统计分析"),
    "EducationAdminView": lazy_gettext("教育经历"),
    "QualificationAdminView": lazy_gettext("职称及资质"),
    "WorkExperienceAdminView": lazy_gettext("工作经历"),
    "EvaluationExperienceAdminView": lazy_gettext("评标实践经验"),
    "ExpertiseAdminView": lazy_gettext("业务技术专长"),
    "AvoidanceUnitAdminView": lazy_gettext("回避单位"),
    "BankAccountAdminView": lazy_gettext("账户信息"),
    "AttachmentAdminView": lazy_gettext("附件"),
    "ReviewRecordAdminView": lazy_gettext("审核详情"),
    "TrainingRecordAdminView": lazy_gettext("学习培训情况"),
    "ApplicationReview": lazy_gettext("入库申请审核"),
    "MyChanges": lazy_gettext("个人信息变更"),
    "File": lazy_gettext("文件下载"),
    "Account": lazy_gettext("个人中心"),
    "UserInfoEditView": lazy_gettext("修改本人信息"),
    "ResetPasswordView": lazy_gettext("重置密码"),
    "ResetMyPasswordView": lazy_gettext("重置本人密码"),
    "MenuApi": lazy_gettext("菜单接口"),
    "UserGroupModelView": lazy_gettext("用户组列表"),
    "PermissionModelView": lazy_gettext("基础权限"),
    "ViewMenuModelView": lazy_gettext("视图/菜单"),
    "PermissionViewModelView": lazy_gettext("视图/菜单权限"),
    "UserStatsChartView": lazy_gettext("用户统计"),
    "HomeIndexView": lazy_gettext("首页"),
    "LocaleView": lazy_gettext("切换语言"),
    "LoginApi": lazy_gettext("登录接口"),
    "LoginView": lazy_gettext("登录"),
    "UtilView": lazy_gettext("返回上一页"),
    "PaymentCallback": lazy_gettext("支付结果通知"),
    "CertificateVerify": lazy_gettext("证书查验"),
}


def _view_words() -> dict[str, Any]:
    """View or menu name → its words: the menu's labels, then VIEW_WORDS (built once)."""
    words = current_app.extensions.get("permission_view_words")
    if words is None:
        words = {}
        for category in current_app.appbuilder.menu.menu:
            if category.childs:
                words[category.name] = category.label or category.name
            for item in category.childs or [category]:
                if item.name == "-":
                    continue
                words[item.name] = item.label or item.name
                if item.baseview is not None:
                    words.setdefault(item.baseview.class_permission_name, item.label or item.name)
        for name, label in VIEW_WORDS.items():
            words.setdefault(name, label)
        current_app.extensions["permission_view_words"] = words
    return words


def view_word(view: str | None) -> str:
    """A view or menu name in words (its menu label), else as it is."""
    view = view or ""
    return str(_view_words().get(view, view)) if has_app_context() else view


def permission_word(permission: str | None) -> str:
    permission = permission or ""
    return str(PERMISSION_WORDS.get(permission) or permission.removeprefix("can_"))


def permission_view_label(permission: str | None, view: str | None) -> str:
    """"导入记录：查看列表" for (can_list, ImportBatchAdminView); unknown names as they are."""
    if not has_app_context():  # FAB's log lines
        return f"{(permission or '').replace('_', ' ')} on {view}"
    return gettext("%(view)s：%(permission)s", view=view_word(view),
                   permission=permission_word(permission))


def _permission_view_repr(self: PermissionView) -> str:
    # FAB shows a PermissionView by its repr: the role screens' lists and select boxes
    return permission_view_label(self.permission and self.permission.name,
                                 self.view_menu and self.view_menu.name)


def names(items) -> str:
    """Roles or groups as 专家、审核人员 (FAB printed the Python list: ``[专家]``, ``[]``)."""
    return "、".join(str(item) for item in items or [])


def blank_if_none(value) -> Any:
    return "" if value is None else value  # FAB printed "None"


def yes_no(value) -> str:
    return gettext("是") if value else gettext("否")


class StaffUserView(UserDBModelView):
    """用户列表: one 姓名 (Chinese names are not split in first and last), roles as names."""
    class_permission_name = "UserDBModelView"  # FAB's: the permissions granted so far stay
    base_order = ("id", "desc")  # the account just added first, on every database

    list_columns = ["first_name", "username", "email", "active", "roles", "groups"]
    show_fieldsets = [
        (lazy_gettext("User info"), {"fields": ["username", "active", "roles", "login_count"]}),
        (lazy_gettext("Personal Info"), {"fields": ["first_name", "email"], "expanded": True}),
        (lazy_gettext("Audit Info"), {
            "fields": ["last_login", "fail_login_count", "created_on", "created_by",
                       "changed_on", "changed_by"], "expanded": False}),
    ]
    user_show_fieldsets = [
        (lazy_gettext("User info"), {"fields": ["username", "active", "roles", "login_count"]}),
        (lazy_gettext("Personal Info"), {"fields": ["first_name", "email"], "expanded": True}),
    ]
    add_columns = ["first_name", "username", "active", "email", "roles", "groups", "password",
                   "conf_password"]
    edit_columns = ["first_name", "username", "active", "email", "roles", "groups"]
    search_columns = ["first_name", "username", "email", "active", "roles"]
    label_columns = {**UserDBModelView.label_columns, "first_name": lazy_gettext("姓名")}
    # FAB's own help texts speak of LDAP and OID and have no Chinese
    description_columns = {
        "first_name": lazy_gettext("姓名，显示在页面右上角和审计日志中"),
        "username": lazy_gettext("登录账号"),
        "password": lazy_gettext("登录密码：至少8位，含字母和数字"),
        "conf_password": lazy_gettext("请再输入一次密码"),
        "active": lazy_gettext("停用的账号不能登录；请停用而不要删除账号"),
        "email": lazy_gettext("电子邮箱"),
        "roles": lazy_gettext("角色决定能使用哪些功能（在 系统管理 → 角色列表 中设置）"),
        "groups": lazy_gettext("用户组的角色也归本账号所有（一般不用）"),
    }
    # shown in 北京时间 without microseconds (read-only here: not in the forms nor the search;
    # the views' BeijingTimesMixin sits in a layer above this module)
    beijing_time_columns = ("last_login", "created_on", "changed_on")
    formatters_columns = {"roles": names, "groups": names, "active": yes_no,
                          **{column: blank_if_none for column in (
                              "created_by", "changed_by", "login_count", "fail_login_count")},
                          **{column: local_time for column in beijing_time_columns}}

    def pre_add(self, item) -> None:
        item.last_name = item.last_name or ""  # FAB's column is NOT NULL; the form has 姓名 only
        super().pre_add(item)  # FAB hashes the password here


def _role_permissions(permissions) -> str:
    labels = sorted(str(pv) for pv in permissions or [])
    if request.endpoint and request.endpoint.endswith(".list"):
        return gettext("共 %(count)d 项", count=len(labels))
    return "\n".join(labels)  # the show page keeps line breaks (white-space: pre-line)


class StaffRoleView(RoleModelView):
    """角色列表: permissions in words. FAB's own role widgets print the Python list and skip
    the formatters; there are no built-in roles here, so the plain widgets do."""
    class_permission_name = "RoleModelView"  # FAB's: the permissions granted so far stay

    list_widget = ListWidget
    show_widget = ShowWidget
    formatters_columns = {"permissions": _role_permissions}
    label_columns = {**RoleModelView.label_columns, "user": lazy_gettext("用户"),
                     "groups": lazy_gettext("用户组")}


class StaffGroupView(UserGroupModelView):
    """用户组列表 (out of the menu: no account uses groups today), its columns in Chinese."""
    class_permission_name = "UserGroupModelView"  # FAB's: the permissions granted so far stay

    label_columns = {"name": lazy_gettext("名称"), "label": lazy_gettext("显示名称"),
                     "description": lazy_gettext("说明"), "users": lazy_gettext("用户"),
                     "roles": lazy_gettext("角色")}
    formatters_columns = {"users": names, "roles": names}


class StaffPermissionView(PermissionModelView):
    class_permission_name = "PermissionModelView"  # FAB's: the permissions granted so far stay
    formatters_columns = {"name": permission_word}


class StaffViewMenuView(ViewMenuModelView):
    class_permission_name = "ViewMenuModelView"  # FAB's: the permissions granted so far stay
    formatters_columns = {"name": view_word}


class StaffPermissionViewView(PermissionViewModelView):
    label_columns = {**PermissionViewModelView.label_columns, "role": lazy_gettext("角色")}
    class_permission_name = "PermissionViewModelView"  # FAB's: the permissions granted so far stay
    formatters_columns = {"permission": lambda perm: permission_word(perm and perm.name),
                          "view_menu": lambda view: view_word(view and view.name)}


class ExpertSecurityManager(SecurityManager):
    user_model = AppUser
    authdbview = LoginView
    security_api = LoginApi
    userstatschartview = None  # FAB's 用户统计 loads Google Charts; the 首页 has ECharts
    userdbmodelview = StaffUserView
    rolemodelview = StaffRoleView
    groupmodelview = StaffGroupView
    permissionmodelview = StaffPermissionView
    viewmenumodelview = StaffViewMenuView
    permissionviewmodelview = StaffPermissionViewView

    def register_views(self):
        """FAB's security screens, their menu category named 系统管理 (where 审计日志 and
        锁定账号 join it) with only 用户列表 and 角色列表 in it."""
        PermissionView.__repr__ = _permission_view_repr
        super().register_views()
        menu = self.appbuilder.menu
        for category in menu.menu:
            if category.name == "Security":
                category.name = ADMIN_CATEGORY
                category.label = lazy_gettext(ADMIN_CATEGORY)
                category.childs = [item for item in category.childs
                                   if item.name in SECURITY_MENU_ITEMS]

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

    def create_jwt_manager(self, app):
        jwt_manager = super().create_jwt_manager(app)
        jwt_manager.token_in_blocklist_loader(jwt_session_ended)
        return jwt_manager

    def find_login_user(self, typed: str) -> AppUser | None:
        """The account behind what was typed: its account name, an expert's phone, or its
        e-mail (FAB's fallback), so that every spelling counts against the same person."""
        typed = (typed or "").strip()
        if not typed:
            return None
        if looks_like_phone(typed):
            user_id = self.session.execute(
                select(Expert.user_id).where(Expert.phone == normalize_phone(typed))
            ).scalar_one_or_none()
            if user_id is not None:
                return self.session.get(AppUser, user_id)
        return self.find_user(username=typed) or self.find_user(email=typed)

    def login_subject(self, typed: str) -> int | str:
        """What failures are counted against: the account id, else the typed text."""
        user = self.find_login_user(typed)
        return user.id if user is not None else (typed or "").strip()

    def auth_user_db(self, username, password):
        """Every login path (web form, API) comes here. The attempt is reserved against the
        person (not the spelling) before any password check; past the limit the answer and
        the cost are those of a wrong password."""
        typed = (username or "").strip()
        user = self.find_login_user(typed)
        subject = user.id if user is not None else typed
        shown = user.username if user is not None else typed[:128]
        store, policy, ip, now = throttle_store(), login_policy(), client_ip(), utcnow()
        actor = Actor(None, shown, ip)
        reservation = login_guard.reserve(store, subject, now, policy)
        if not reservation.allowed:
            # Same answer, same cost as a wrong password: nothing tells a lock apart.
            check_password_hash(current_app.config["AUTH_DB_FAKE_PASSWORD_HASH_CHECK"], "x")
            login_guard.register_failure(store, subject, ip, now, policy, reservation)
            audit.record(self.session, Action.LOGIN_FAILED, actor=actor, object_type="用户",
                         object_id=shown, detail="账号已锁定")
            log.warning("login refused: locked (user id %s)", user.id if user else "unknown")
            return None  # the request commits the failure's audit record
        # FAB's check keeps its timing equalisation (a fake hash check for unknown names).
        found = super().auth_user_db(user.username if user is not None else typed, password)
        if found is not None:
            login_guard.register_success(store, subject)
            audit.record(self.session, Action.LOGIN, actor=Actor(found.id, found.username, ip),
                         object_type="用户", object_id=found.username)
        else:
            newly_locked = login_guard.register_failure(store, subject, ip, now, policy,
                                                        reservation)
            audit.record(self.session, Action.LOGIN_FAILED, actor=actor, object_type="用户",
                         object_id=shown)
            log.info("login failed (user id %s)", user.id if user else "unknown")
            if newly_locked and user is not None:
                log.warning("account locked after %s failures (user id %s)",
                            policy.max_failures, user.id)
                audit.record(self.session, Action.LOCKED, actor=actor, object_type="用户",
                             object_id=shown,
                             detail=f"连续{policy.max_failures}次登录失败，锁定{policy.lock_minutes}分钟")
        self.session.flush()  # the request commits (the login page or the API's answer)
        return found

    def reset_password(self, userid, password):
        """管理员 → 用户 → 重置密码 (FAB's /resetpassword/form): every session of the account
        ends, it must choose its own password at the next login, and the reset is audited.
        Resetting one's own password (FAB's 重置我的密码) ends one's other sessions only."""
        # FAB's form passes the pk as the query string's text; PostgreSQL will not compare
        # an integer column with it
        userid = int(userid)
        super().reset_password(userid, password)
        user = self.session.get(AppUser, userid)
        actor = current_actor()
        own = actor.id == user.id
        user.must_change_password = not own
        user.password_changed_at = utcnow()
        audit.record(self.session, Action.PASSWORD_RESET, actor=actor, object_type="用户",
                     object_id=user.username,
                     detail="本人重置密码" if own else "管理员重置密码，下次登录须修改密码")
        sessions.end_all(self.session, user.id, utcnow(), "重置密码")
        if own and has_request_context():
            start_session(user)
