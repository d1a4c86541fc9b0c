"""Request guards that apply to every route: server-side session limits, the forced
password change, security headers, the CSRF error page."""
from __future__ import annotations

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
from werkzeug.middleware.proxy_fix import ProxyFix

from app.errors import wants_json
from app.extensions import db
from app.models import local_time, utcnow
from app.security import end_session
from app.services import access, settings
from app.services.access import SESSION_TOKEN, STATIC_ENDPOINTS, SessionLimits
from app.services.study import progress_percent

# Routes that check the server-side session and the password themselves, in one query
# (with the rules of app.services.access).
SELF_CHECKING = frozenset({"study_api.heartbeat"})


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


def register_guards(app: Flask) -> None:
    if app.config.get("PROXY_COUNT"):
        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    # FAB's templates call csp_nonce() on every <script>: the nonce of our CSP header.
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    # 学习进度 as the study service computes it, wherever a template shows it.
    app.jinja_env.filters["progress"] = progress_percent
    app.jinja_env.filters["local_time"] = local_time

    @app.before_request
    def check_server_session():
        """access.check_session on every request of a signed-in account. A session it
        ends answers 401 or the login page, and the request still commits the end."""
        if request.endpoint in STATIC_ENDPOINTS | SELF_CHECKING:
            return None
        if not current_user.is_authenticated:
            return None
        reason = access.check_session(db.session, session.get(SESSION_TOKEN), current_user.id,
                                      utcnow(), SessionLimits.from_config(settings.config()))
        if reason is None:
            return None
        end_session(reason)
        if wants_json():
            return jsonify(message=reason), 401
        flash(reason, "warning")
        return redirect(url_for("LoginView.login"))

    @app.before_request
    def force_password_change():
        if request.endpoint in SELF_CHECKING or not current_user.is_authenticated:
            return None
        refused = access.password_change_refusal(
            getattr(current_user, "must_change_password", False), request.endpoint)
        if refused is None:
            return None
        if wants_json():
            return jsonify(message=refused[1]), refused[0]
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
