"""Request guards that apply to every route."""
from __future__ import annotations

from flask import Flask, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError

# Endpoints an account that must change its password may still reach.
PASSWORD_CHANGE_ALLOWED = {
    "AccountView.change_password",
    "LoginView.logout",
    "LoginView.login",
    "LocaleView.index",
    "static",
    "appbuilder.static",
}


def register_guards(app: Flask) -> None:
    @app.before_request
    def force_password_change():
        if not current_user.is_authenticated:
            return None
        if not getattr(current_user, "must_change_password", False):
            return None
        if request.endpoint in PASSWORD_CHANGE_ALLOWED:
            return None
        if request.path.startswith("/api/"):
            return jsonify(message="请先修改默认密码"), 403
        return redirect(url_for("AccountView.change_password"))

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        # A form left open too long, or a forged request: say so plainly, in Chinese.
        return render_template("errors/csrf.html"), 400
