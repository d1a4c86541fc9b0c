"""What the WSGI fronts share: small layers in front of Flask that answer the busiest
ordinary requests (the study heartbeat, a kept certificate's download) in one database
statement, without Flask's request machinery.

A front only ever answers when every check it makes passes, and each of its checks is at
least as strict as the app's own; anything else (no or bad cookie, an expired or stale
session, a refusal of any kind) goes on to Flask untouched, which gives its usual answer.

- ``SessionCookie`` reads the signed session cookie with Flask's own session interface
  (its serializer, keys and lifetime), and Flask-Login's key of the account;
- ``CsrfCheck`` asks Flask-WTF itself (``CSRFProtect.protect``, which calls
  ``validate_csrf``) whether a request's CSRF header is good, once per token;
- ``GUARDS``: every ``before_request`` guard of the app and what each front does about it
  (tests/test_access.py fails when a guard is added that is not listed here);
- ``front_engine`` / ``run_statement`` run the front's statement (PostgreSQL: autocommit,
  straight on the driver's connection, the SQL compiled once);
- ``front_headers`` are the headers app.guards gives every non-static answer.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask
from flask_wtf.csrf import CSRFError
from itsdangerous import BadData
from sqlalchemy import Engine, create_engine
from werkzeug.http import parse_cookie

from app.extensions import csrf, db
from app.guards import security_headers_for
from app.services.access import LOGIN_USER_KEY, SESSION_TOKEN

# Decoded cookies, keyed by their signed text: checking a signature is a fair share of a
# front's cost, and the same browser sends the same text again and again.
MEMO_SIZE = 20_000
T = TypeVar("T")

HEARTBEAT, CERTIFICATE_DOWNLOAD = "heartbeat", "certificate_download"
# Every before_request guard of the app (module.qualname), and for each front whether it
# applies the guard's rule itself or may skip it, and why. A front answers only when all
# of them would let the request through; a guard missing here fails tests/test_access.py.
GUARDS: dict[str, dict[str, str]] = {
    "flask_wtf.csrf.CSRFProtect.init_app.<locals>.csrf_protect": {
        HEARTBEAT: "applied: CsrfCheck asks Flask-WTF's own protect() (header token, the "
                   "session's secret, the Referer on HTTPS)",
        CERTIFICATE_DOWNLOAD: "skipped: a GET, which Flask-WTF does not check",
    },
    "flask_appbuilder.security.manager.BaseSecurityManager.before_request": {
        HEARTBEAT: "skipped: it only sets g.user for FAB's templates; the account is "
                   "checked in the front's statement",
        CERTIFICATE_DOWNLOAD: "skipped: as for the heartbeat; the permission FAB's "
                              "has_access would check is access.role_grants in the statement",
    },
    "app.guards.register_guards.<locals>.check_server_session": {
        HEARTBEAT: "applied: access.session_open / session_within_limits in the statement, "
                   "access.session_limit_reached on what it read (ends the session)",
        CERTIFICATE_DOWNLOAD: "applied, stricter: access.session_fresh (a session the app "
                              "would touch or end goes on to Flask)",
    },
    "app.guards.register_guards.<locals>.force_password_change": {
        HEARTBEAT: "applied: access.account_refusal on the account's row (403 as the guard's "
                   "JSON answer)",
        CERTIFICATE_DOWNLOAD: "applied: access.account_usable in the statement (else Flask "
                              "redirects to the password page)",
    },
    "app.errors.register_errors.<locals>.refuse_nul": {
        HEARTBEAT: "applied: its path holds digits only; a body with a NUL "
                   "(app.errors.body_has_nul) goes on to Flask",
        CERTIFICATE_DOWNLOAD: "applied: its path holds digits only and it takes no query "
                              "string or body",
    },
}


def guard_name(func: Callable) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def remember(memo: dict, key: str, value) -> None:
    """Keep at most MEMO_SIZE entries, the oldest going first."""
    while len(memo) >= MEMO_SIZE:
        try:
            memo.pop(next(iter(memo)), None)
        except (RuntimeError, StopIteration):  # another thread changed it meanwhile
            break
    memo[key] = value


class SessionCookie:
    """(user id, server-side session token, CSRF secret) from a valid Flask session cookie."""

    def __init__(self, app: Flask):
        self.app = app
        self._identities: dict[str, tuple[int, str, str | None, float] | None] = {}

    def identity(self, environ) -> tuple[int, str, str | None] | None:
        cookie_header = environ.get("HTTP_COOKIE")
        if not cookie_header:
            return None
        now = time.time()
        hit = self._identities.get(cookie_header, False)
        if hit is False:
            hit = self._decode(cookie_header)
            remember(self._identities, cookie_header, hit)
        if hit is None or now > hit[3]:
            return None
        return hit[0], hit[1], hit[2]

    def _decode(self, cookie_header: str):
        app = self.app
        value = parse_cookie(cookie_header).get(app.config["SESSION_COOKIE_NAME"])
        serializer = app.session_interface.get_signing_serializer(app)
        if not value or serializer is None:
            return None
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadData:
            return None
        try:
            user_id = int(data.get(LOGIN_USER_KEY) or 0)
        except (TypeError, ValueError):
            return None
        token = data.get(SESSION_TOKEN)
        if not user_id or not isinstance(token, str) or not token:
            return None
        csrf_secret = data.get(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
        return user_id, token, csrf_secret, signed_at.timestamp() + max_age


class CsrfCheck:
    """Flask-WTF's own check of a request (``CSRFProtect.protect``: the header's signed
    token against the session's secret, and on HTTPS the Referer), asked in a request
    context of its own once per (token, secret, scheme, host, Referer) and remembered:
    the same page sends the same token every 30 s."""

    def __init__(self, app: Flask):
        self.app = app
        self._seen: dict[tuple, bool] = {}

    def ok(self, environ, csrf_secret: str | None) -> bool | None:
        """True or False; None when the front should not judge (leave it to Flask)."""
        cfg = self.app.config
        if not cfg.get("WTF_CSRF_ENABLED", True) or not cfg.get("WTF_CSRF_CHECK_DEFAULT", True):
            return True
        if cfg.get("WTF_CSRF_TIME_LIMIT") is not None:
            return None  # tokens that expire cannot be remembered
        token = next((environ.get("HTTP_" + name.upper().replace("-", "_"))
                      for name in cfg["WTF_CSRF_HEADERS"]
                      if environ.get("HTTP_" + name.upper().replace("-", "_"))), None)
        if not token or not isinstance(csrf_secret, str) or not csrf_secret:
            return False
        key = (token, csrf_secret, environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"),
               environ.get("HTTP_REFERER"))
        found = self._seen.get(key)
        if found is None:
            with self.app.request_context(environ):
                try:
                    csrf.protect()
                    found = True
                except CSRFError:
                    found = False
            remember(self._seen, key, found)
        return found


def front_engine(app: Flask) -> Engine:
    """The fronts' own engine on PostgreSQL: autocommit (their statements need no
    transaction of their own) and synchronous_commit off (what they write is a heartbeat's
    credit or a session's last-seen time: a crash loses at most 30 s of either, never a
    payment or an answer). Elsewhere the app's engine."""
    engine = app.extensions.get("front_engine")
    if engine is None:
        with app.app_context():
            engine = db.engine
        if engine.dialect.name == "postgresql":
            engine = create_engine(engine.url, isolation_level="AUTOCOMMIT",
                                   connect_args={"options": "-c synchronous_commit=off"},
                                   pool_pre_ping=False)
        app.extensions["front_engine"] = engine
    return engine


class DriverConnection:
    """Runs a front's prebuilt Core statements straight on the psycopg connection, compiled
    once: at a thousand requests a second SQLAlchemy's per-statement work costs more than
    PostgreSQL's. Offers what the services use of a Connection: ``execute(...).first()``
    and ``.rowcount``."""

    # statement → (SQL, the values of its own bound literals, such as a status compared to)
    _compiled: dict[Any, tuple[str, dict]] = {}

    def __init__(self, driver_connection, dialect):
        self.cursor = driver_connection.cursor()
        self.dialect = dialect

    def execute(self, statement, params: dict):
        found = self._compiled.get(statement)
        if found is None:
            compiled = statement.compile(dialect=self.dialect)
            found = self._compiled[statement] = (str(compiled), dict(compiled.params))
        sql, literals = found
        self.cursor.execute(sql, {**literals, **params})  # psycopg prepares it after a few runs
        return self

    def first(self):
        return self.cursor.fetchone()

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount


def run_statement(app: Flask, work: Callable[[Any, bool], T]) -> T:
    """``work(connection, one_statement)`` on the front's connection: on PostgreSQL an
    autocommit driver connection (``one_statement`` True), elsewhere a transaction of the
    app's engine, committed when ``work`` returns."""
    engine = front_engine(app)
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            return work(conn, False)
    pooled = engine.raw_connection()  # autocommit: each statement commits by itself
    try:
        return work(DriverConnection(pooled.driver_connection, engine.dialect), True)
    except engine.dialect.loaded_dbapi.OperationalError:
        pooled.invalidate()  # a dropped connection is not handed out again
        raise
    finally:
        pooled.close()


def front_headers(environ, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``extra`` and the headers app.guards.security_headers gives every answer, with
    Flask's Vary; never kept by browsers or proxies, as app.guards does for every
    non-static answer."""
    return [*extra,
            *security_headers_for(secrets.token_urlsafe(16), environ.get("wsgi.url_scheme") == "https"),
            ("Cache-Control", "no-store"), ("Pragma", "no-cache"), ("Vary", "Cookie")]
