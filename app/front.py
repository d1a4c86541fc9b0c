"""What the WSGI fronts share: small layers in front of Flask that answer the busiest
ordinary requests (the study heartbeat, a kept certificate's download) in one database
statement, without Flask's request machinery.

A front only ever answers when every check it makes passes, and each of its checks is at
least as strict as the app's own; anything else (no or bad cookie, an expired or stale
session, a refusal of any kind) goes on to Flask untouched, which gives its usual answer.

- ``SessionCookie`` reads the signed session cookie with Flask's own signer and keys;
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
from itsdangerous import BadData
from sqlalchemy import Engine, create_engine
from werkzeug.http import parse_cookie

from app.extensions import db
from app.guards import security_headers_for
from app.security import SESSION_TOKEN

# Decoded cookies, keyed by their signed text: checking a signature is a fair share of a
# front's cost, and the same browser sends the same text again and again.
MEMO_SIZE = 20_000
T = TypeVar("T")


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
            user_id = int(data.get("_user_id") or 0)
        except (TypeError, ValueError):
            return None
        token = data.get(SESSION_TOKEN)
        if not user_id or not isinstance(token, str) or not token:
            return None
        csrf_secret = data.get(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
        return user_id, token, csrf_secret, signed_at.timestamp() + max_age


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
