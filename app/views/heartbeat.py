"""The study heartbeat, POST /training/<id>/heartbeat: the busiest route (every expert
studying, every 30 s).

It is served twice over, with the same service call (``study.beat_for_user``) and the same
access rules (``app/services/access.py``):

- ``HeartbeatFront``, a small WSGI layer in front of Flask (its shared pieces in
  app/views/_front.py), answers the ordinary beat without Flask's request machinery: it
  reads the signed session cookie with Flask's session interface and has Flask-WTF check
  the CSRF header, then the service checks the server-side session, the account, ownership
  and the study window in one query (on PostgreSQL, one statement that also writes).
  Anything it is not sure about (no or bad cookie, CSRF, a body it cannot read, an
  enrolment that is not this account's) goes on to Flask untouched;
- the Flask route below, which gives those requests the app's own answers (400 and the
  CSRF page, 401, 404), on the request's own session: the request's one commit writes it.
"""
from __future__ import annotations

import io
import json
import logging
import math
import re
from typing import Any

from flask import Blueprint, Flask, abort, jsonify, request, session

from app.errors import DATABASE_ERRORS, body_has_nul
from app.extensions import db
from app.models import MAX_DB_INT, utcnow
from app.services import settings, study
from app.services.access import LOGIN_USER_KEY, SESSION_TOKEN, SessionLimits
from app.views._front import (
    HEARTBEAT,
    CsrfCheck,
    SessionCookie,
    front_headers,
    run_statement,
)

log = logging.getLogger(__name__)
heartbeat_api = Blueprint("study_api", __name__)
PATH = re.compile(r"/training/([1-9][0-9]{0,17})/heartbeat\Z")
MAX_BODY = 4096


def parse_beat(data: Any) -> tuple[int | None, float, bool]:
    """(lesson id, position, visible) from the page's JSON; ValueError when malformed."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    try:
        lesson_id = int(data["lesson_id"]) if data.get("lesson_id") else None
        position = float(data.get("position") or 0)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(str(exc)) from exc
    # both are stored in INTEGER columns: a value beyond them (lesson_id = 10**30) is a 400,
    # not an overflow in the driver
    if lesson_id is not None and not 0 < lesson_id <= MAX_DB_INT:
        raise ValueError("lesson_id")
    if not math.isfinite(position) or abs(position) > MAX_DB_INT:
        raise ValueError("position")
    return lesson_id, position, bool(data.get("visible"))


def run_beat(app: Flask, enrollment_id: int, user_id: int, token: str | None,
             lesson_id: int | None, position: float, visible: bool
             ) -> tuple[int, int] | study.BeatRefused | None:
    """The front's beat, on its own connection (committed when it returns)."""
    limits = SessionLimits.from_config(settings.front_config(app))

    def work(conn, one_statement: bool):
        try:
            return study.beat_for_user(conn, enrollment_id, user_id, token, lesson_id, position,
                                       visible, utcnow(), limits, one_statement=one_statement)
        except study.BeatRefused as exc:
            return exc  # returned, not raised: an expired session's end is committed

    return run_statement(app, work)


@heartbeat_api.post("/training/<int:enrollment_id>/heartbeat")
def heartbeat(enrollment_id: int):
    """About every 30 s while a lesson is open: {lesson_id, position, visible}. The account
    and its server-side session are checked inside the heartbeat's own query (the general
    guards skip this route), so the account is not loaded separately."""
    try:
        user_id = int(session.get(LOGIN_USER_KEY) or 0)
    except ValueError:
        user_id = 0
    if not user_id:
        abort(401)
    try:
        lesson_id, position, visible = parse_beat(request.get_json(silent=True) or {})
    except ValueError:
        abort(400)
    try:
        result = study.beat_for_user(
            study.SessionStatements(db.session), enrollment_id, user_id,
            session.get(SESSION_TOKEN), lesson_id, position, visible, utcnow(),
            SessionLimits.from_config(settings.config()))
    except study.BeatRefused as exc:
        # answered, not raised: the request still commits an expired session's end
        return jsonify(message=exc.message), exc.status
    if result is None:
        abort(404)
    return jsonify(credited=result[0], progress=result[1])


def _json_body(obj: dict) -> bytes:
    # what Flask's jsonify writes: sorted keys, compact, ASCII, one newline
    return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()


class HeartbeatFront:
    """WSGI middleware: the ordinary heartbeat without Flask; everything else to Flask."""

    name = HEARTBEAT  # its row in _front.GUARDS

    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self.cookie = SessionCookie(app)
        self.csrf = CsrfCheck(app)

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            match = PATH.match(environ.get("PATH_INFO", ""))
            # an id no column holds goes on to Flask, whose bounded converter answers 404
            if match and int(match.group(1)) <= MAX_DB_INT:
                body = self._read_body(environ)
                if body is not None:
                    answer = self._safe_beat(environ, int(match.group(1)), body)
                    if answer is not None:
                        status, payload = answer
                        start_response(status, front_headers(environ, [
                            ("Content-Type", "application/json"),
                            ("Content-Length", str(len(payload)))]))
                        return [payload]
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _read_body(environ) -> bytes | None:
        """The body, put back for Flask should the beat go on to it; None to leave it."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return None
        if not 0 < length <= MAX_BODY or environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def _safe_beat(self, environ, enrollment_id: int, body: bytes) -> tuple[str, bytes] | None:
        # A database fault here (connection lost, server down) goes on to Flask, which
        # retries a lost connection or answers its Chinese 503, instead of a bare 500 from
        # the WSGI server. The beat is one autocommit statement: a failed one wrote nothing.
        try:
            return self._beat(environ, enrollment_id, body)
        except DATABASE_ERRORS:
            log.warning("heartbeat front: database error, handed to Flask", exc_info=True)
            return None

    def _beat(self, environ, enrollment_id: int, body: bytes) -> tuple[str, bytes] | None:
        """(status, JSON) when the beat is answered here; None to hand it to Flask."""
        content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            return None
        identity = self.cookie.identity(environ)
        if identity is None:
            return None
        user_id, token, csrf_secret = identity
        if body_has_nul(body) or not self.csrf.ok(environ, csrf_secret):
            return None  # Flask's 400: refuse_nul, or Flask-WTF's CSRF page
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


def register(app: Flask) -> None:
    app.register_blueprint(heartbeat_api)
    app.wsgi_app = HeartbeatFront(app, app.wsgi_app)
