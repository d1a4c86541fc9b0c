"""The study heartbeat, POST /training/<id>/heartbeat: the busiest route (every expert
studying, every 30 s).

It is served twice over, with the same service call (``study.beat_for_user``):

- ``HeartbeatFront``, a small WSGI layer in front of Flask, answers the ordinary beat
  without Flask's request machinery: it checks the signed session cookie and the CSRF
  header itself (the same signers and keys as Flask and Flask-WTF), then the service
  checks the server-side session, the account, ownership and the study window in one
  query. Anything it is not sure about (no or bad cookie, CSRF, a body it cannot read, an
  enrolment that is not this account's) goes on to Flask untouched;
- the Flask route below, which gives those requests the app's own answers (400 and the
  CSRF page, 401, 404).
"""
from __future__ import annotations

import datetime as dt
import hmac
import json
import math
import re
import secrets
import time
from typing import Any

from flask import Blueprint, Flask, abort, current_app, jsonify, request, session
from flask_wtf.csrf import same_origin
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import Engine, create_engine
from werkzeug.http import parse_cookie
from werkzeug.wsgi import get_host

from app.extensions import db
from app.guards import security_headers_for
from app.models import utcnow
from app.security import SESSION_TOKEN
from app.services import study

heartbeat_api = Blueprint("study_api", __name__)
PATH = re.compile(r"/training/([1-9][0-9]{0,17})/heartbeat\Z")
MAX_BODY = 4096
# Decoded cookies and CSRF tokens, keyed by their signed text: checking a signature is a
# fair share of a beat's cost, and the same browser sends the same text every 30 s.
MEMO_SIZE = 20_000


def parse_beat(data: Any) -> tuple[int | None, float, bool]:
    """(lesson id, position, visible) from the page's JSON; ValueError when malformed."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    try:
        lesson_id = int(data["lesson_id"]) if data.get("lesson_id") else None
        position = float(data.get("position") or 0)
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from exc
    if not math.isfinite(position):
        raise ValueError("position")
    return lesson_id, position, bool(data.get("visible"))


def beat_engine(app: Flask) -> Engine:
    """The heartbeat's own engine on PostgreSQL: autocommit (its statements need no
    transaction of their own) and synchronous_commit off (a beat lost in a crash costs at
    most 30 s of credit, never a payment or an answer). Elsewhere the app's engine."""
    engine = app.extensions.get("heartbeat_engine")
    if engine is None:
        with app.app_context():
            engine = db.engine
        if engine.dialect.name == "postgresql":
            engine = create_engine(engine.url, isolation_level="AUTOCOMMIT",
                                   connect_args={"options": "-c synchronous_commit=off"},
                                   pool_pre_ping=False)
        app.extensions["heartbeat_engine"] = engine
    return engine


class DriverConnection:
    """Runs the heartbeat's prebuilt Core statements straight on the psycopg connection,
    compiled once: at a thousand beats a second SQLAlchemy's per-statement work costs
    more than PostgreSQL's. Offers the two things ``study.beat_for_user`` uses of a
    Connection: ``execute(...).first()`` and ``.rowcount``."""

    _compiled: dict[Any, str] = {}

    def __init__(self, driver_connection, dialect):
        self.cursor = driver_connection.cursor()
        self.dialect = dialect

    def execute(self, statement, params: dict):
        sql = self._compiled.get(statement)
        if sql is None:
            sql = self._compiled[statement] = str(statement.compile(dialect=self.dialect))
        self.cursor.execute(sql, params)  # psycopg prepares it after a few runs
        return self

    def first(self):
        return self.cursor.fetchone()

    @property
    def rowcount(self) -> int:
        return self.cursor.rowcount


def run_beat(app: Flask, enrollment_id: int, user_id: int, token: str | None,
             lesson_id: int | None, position: float, visible: bool
             ) -> tuple[int, int] | study.BeatRefused | None:
    cfg = app.config
    args = (enrollment_id, user_id, token, lesson_id, position, visible, utcnow())
    limits = {"idle": dt.timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]),
              "absolute": dt.timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"])}
    engine = beat_engine(app)
    try:
        if engine.dialect.name != "postgresql":
            with engine.begin() as conn:
                try:
                    return study.beat_for_user(conn, *args, **limits)
                except study.BeatRefused as exc:
                    return exc  # returned, not raised: an expired session's end is committed
        pooled = engine.raw_connection()  # autocommit: each statement commits by itself
        try:
            return study.beat_for_user(DriverConnection(pooled.driver_connection, engine.dialect),
                                       *args, **limits, one_statement=True)
        except engine.dialect.loaded_dbapi.OperationalError:
            pooled.invalidate()  # a dropped connection is not handed out again
            raise
        finally:
            pooled.close()
    except study.BeatRefused as exc:
        return exc


@heartbeat_api.post("/training/<int:enrollment_id>/heartbeat")
def heartbeat(enrollment_id: int):
    """About every 30 s while a lesson is open: {lesson_id, position, visible}. The account
    and its server-side session are checked inside the heartbeat's own query (the general
    guards skip this route), so the account is not loaded separately."""
    try:
        user_id = int(session.get("_user_id") or 0)
    except ValueError:
        user_id = 0
    if not user_id:
        abort(401)
    try:
        lesson_id, position, visible = parse_beat(request.get_json(silent=True) or {})
    except ValueError:
        abort(400)
    result = run_beat(current_app._get_current_object(), enrollment_id, user_id,
                      session.get(SESSION_TOKEN), lesson_id, position, visible)
    if isinstance(result, study.BeatRefused):
        return jsonify(message=result.message), result.status
    if result is None:
        abort(404)
    return jsonify(credited=result[0], progress=result[1])


def _remember(memo: dict, key: str, value) -> None:
    """Keep at most MEMO_SIZE entries, the oldest going first."""
    while len(memo) >= MEMO_SIZE:
        try:
            memo.pop(next(iter(memo)), None)
        except (RuntimeError, StopIteration):  # another thread changed it meanwhile
            break
    memo[key] = value


def _json_body(obj: dict) -> bytes:
    # what Flask's jsonify writes: sorted keys, compact, ASCII, one newline
    return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()


class HeartbeatFront:
    """WSGI middleware: the ordinary heartbeat without Flask; everything else to Flask."""

    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._identities: dict[str, tuple[int, str, str | None, float] | None] = {}
        self._csrf: dict[str, str | None] = {}

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            match = PATH.match(environ.get("PATH_INFO", ""))
            if match:
                body = self._read_body(environ)
                if body is not None:
                    answer = self._beat(environ, int(match.group(1)), body)
                    if answer is not None:
                        status, payload = answer
                        start_response(status, self._headers(environ, len(payload)))
                        return [payload]
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _read_body(environ) -> bytes | None:
        """The body, put back for Flask should the beat go on to it; None to leave it."""
        import io

        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return None
        if not 0 < length <= MAX_BODY or environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def _identity(self, cookie_header: str) -> tuple[int, str, str | None] | None:
        """(user id, server-side session token, CSRF secret) from a valid session cookie."""
        now = time.time()
        hit = self._identities.get(cookie_header, False)
        if hit is False:
            hit = self._decode_cookie(cookie_header, now)
            _remember(self._identities, cookie_header, hit)
        if hit is None or now > hit[3]:
            return None
        return hit[0], hit[1], hit[2]

    def _decode_cookie(self, cookie_header: str, now: float):
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

    def _csrf_ok(self, environ, csrf_secret: str | None) -> bool:
        """Flask-WTF's check of a JSON POST: the signed header token matches the session's
        secret; on HTTPS (strict) the Referer is this host."""
        cfg = self.app.config
        if not cfg.get("WTF_CSRF_ENABLED", True) or not cfg.get("WTF_CSRF_CHECK_DEFAULT", True):
            return True
        if not csrf_secret or not isinstance(csrf_secret, str):
            return False
        token = None
        for name in cfg["WTF_CSRF_HEADERS"]:
            token = environ.get("HTTP_" + name.upper().replace("-", "_"))
            if token:
                break
        if not token:
            return False
        if cfg.get("WTF_CSRF_TIME_LIMIT") is not None:
            return False  # tokens that expire: leave the check to Flask-WTF
        if token not in self._csrf:
            secret = cfg.get("WTF_CSRF_SECRET_KEY") or self.app.secret_key
            try:
                raw = URLSafeTimedSerializer(secret, salt="wtf-csrf-token").loads(token)
            except BadData:
                raw = None
            _remember(self._csrf, token, raw if isinstance(raw, str) else None)
        raw = self._csrf[token]
        if raw is None or not hmac.compare_digest(csrf_secret, raw):
            return False
        if environ.get("wsgi.url_scheme") == "https" and cfg.get("WTF_CSRF_SSL_STRICT", True):
            referrer = environ.get("HTTP_REFERER")
            if not referrer or not same_origin(referrer, f"https://{get_host(environ)}/"):
                return False
        return True

    def _beat(self, environ, enrollment_id: int, body: bytes) -> tuple[str, bytes] | None:
        """(status, JSON) when the beat is answered here; None to hand it to Flask."""
        content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        cookie_header = environ.get("HTTP_COOKIE")
        if content_type != "application/json" or not cookie_header:
            return None
        identity = self._identity(cookie_header)
        if identity is None:
            return None
        user_id, token, csrf_secret = identity
        if not self._csrf_ok(environ, csrf_secret):
            return None
        try:
            lesson_id, position, visible = parse_beat(json.loads(body))
        except ValueError:
            return None
        result = run_beat(self.app, enrollment_id, user_id, token, lesson_id, position, visible)
        if result is None:
            return None  # Flask's own 404 page
        if isinstance(result, study.BeatRefused):
            status = "401 UNAUTHORIZED" if result.status == 401 else "403 FORBIDDEN"
            return status, _json_body({"message": result.message})
        return "200 OK", _json_body({"credited": result[0], "progress": result[1]})

    @staticmethod
    def _headers(environ, length: int) -> list[tuple[str, str]]:
        """The headers app.guards.security_headers gives every answer, and Flask's Vary."""
        # never kept by browsers or proxies, as app.guards does for every non-static answer
        return [("Content-Type", "application/json"), ("Content-Length", str(length)),
                *security_headers_for(secrets.token_urlsafe(16),
                                      environ.get("wsgi.url_scheme") == "https"),
                ("Cache-Control", "no-store"), ("Pragma", "no-cache"), ("Vary", "Cookie")]


def register(app: Flask) -> None:
    app.register_blueprint(heartbeat_api)
    app.wsgi_app = HeartbeatFront(app, app.wsgi_app)
