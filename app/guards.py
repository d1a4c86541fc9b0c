"""Request guards that apply to every route: server-side session limits, the forced
password change, security headers, the CSRF error page."""
from __future__ import annotations

import datetime as dt
import secrets

from flask import (
    Flask,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from app.extensions import db
from app.models import local_time, utcnow
from app.services import sessions

# Endpoints an account that must change its password may still reach.
PASSWORD_CHANGE_ALLOWED = {
    "AccountView.change_password",
    "LoginView.logout",
    "LoginView.login",
    "LoginView.captcha",
    "LocaleView.index",
    "static",
    "appbuilder.static",
    "favicon",
}
STATIC_ENDPOINTS = {"static", "appbuilder.static", "favicon"}
# Routes that check the server-side session and the password themselves, in one query.
SELF_CHECKING = {"study_api.heartbeat"}


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def security_headers_for(nonce: str, secure: bool) -> list[tuple[str, str]]:
    """The headers every answer carries (the heartbeat's WSGI front writes them too)."""
    headers = [
        ("Content-Security-Policy", (
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            # FAB's widgets (select2, datepicker) set inline styles
            "style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
            "media-src 'self' blob:; object-src 'none'; base-uri 'self'; "
            "form-action 'self'; frame-ancestors 'none'"
        )),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if secure:
        headers.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return headers


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.is_json


def register_guards(app: Flask) -> None:
    if app.config.get("PROXY_COUNT"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    # FAB's templates call csp_nonce() on every <script>: the nonce of our CSP header.
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    # 学习进度 as the study service computes it, wherever a template shows it.
    from app.services.study import progress_percent

    app.jinja_env.filters["progress"] = progress_percent
    app.jinja_env.filters["local_time"] = local_time

    @app.before_request
    def check_server_session():
        if request.endpoint in STATIC_ENDPOINTS | SELF_CHECKING:
            return None
        if not current_user.is_authenticated:
            return None
        from app.security import SESSION_TOKEN, end_session

        reason = sessions.check(
            db.session, session.get(SESSION_TOKEN), current_user.id, utcnow(),
            idle=dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"]),
            absolute=dt.timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"]),
        )
        if reason is None:
            return None
        end_session(reason)
        if _wants_json():
            return jsonify(message=reason), 401
        flash(reason, "warning")
        return redirect(url_for("LoginView.login"))

    @app.before_request
    def force_password_change():
        if request.endpoint in SELF_CHECKING or not current_user.is_authenticated:
            return None
        if not getattr(current_user, "must_change_password", False):
            return None
        if request.endpoint in PASSWORD_CHANGE_ALLOWED:
            return None
        if _wants_json():
            return jsonify(message="请先修改默认密码"), 403
        return redirect(url_for("AccountView.change_password"))

    @app.after_request
    def security_headers(resp):
        h = resp.headers
        for name, value in security_headers_for(csp_nonce(), request.is_secure
                                                or app.config["PRODUCTION"]):
            h.setdefault(name, value)
        if request.endpoint not in STATIC_ENDPOINTS:
            # pages and files here carry personal data: never kept by browsers or proxies
            h["Cache-Control"] = "no-store"
            h["Pragma"] = "no-cache"
        return resp

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        # A form left open too long, or a forged request: say so plainly, in Chinese.
        return render_template("errors/csrf.html"), 400
