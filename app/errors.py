"""What a visitor sees when a request goes wrong: Chinese error pages (JSON for the API),
bad input answered with 400/404 instead of a 500, and database faults answered with 503.

- ``BoundedIntConverter`` replaces Flask's ``int`` converter: an id beyond what an integer
  column holds (``MAX_DB_INT``) in any ``<int:...>`` route is a 404, never an error in the
  driver.
- A NUL character in a parameter is a 400 (PostgreSQL refuses it in text).
- 400, 403, 404, 405, 413 pages extend the app's layout when it renders; 500 and 503 pages
  are self-contained (they must not need the database that may be what failed).
- sqlalchemy's OperationalError / a DBAPI disconnect is a 503; a read that lost its
  connection is retried once (see ``_retry_read``).
"""
from __future__ import annotations

import logging
import re
import sqlite3

import psycopg
from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    session,
)
from flask_babel import gettext
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import IntegerConverter

from app.extensions import db
from app.models import MAX_DB_INT
from app.services import unit_of_work
from app.services.errors import DomainError, NotSaved

log = logging.getLogger(__name__)

# (title, message) per status; the words are looked up in translations/ when shown.
PAGES = {
    400: ("请求有误", "提交的内容无法处理，请返回上一页检查后重试。"),
    403: ("没有访问权限", "您没有访问此页面的权限。"),
    404: ("页面不存在", "您访问的页面不存在或已被删除。"),
    405: ("操作方式不正确", "此页面不支持这种操作方式，请从系统页面上的按钮或链接进入。"),
    413: ("内容过大", "提交的内容或上传的文件过大，请缩小后重试。"),
    500: ("系统出错", "系统出现错误，请稍后重试；如果问题持续，请联系管理员。"),
    503: ("系统暂时无法访问", "系统暂时无法访问，请稍后重试。"),
}
# What a database fault raises: SQLAlchemy's wrapper, or the driver's own error where the
# pool connects (a raw connection, as the WSGI fronts take) and nothing wraps it.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, sqlite3.Error, psycopg.Error)
STANDALONE = {500, 503}
CJK = re.compile(r"[\u4e00-\u9fff]")
SAFE_METHODS = {"GET", "HEAD"}


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` that matches only what an integer column can hold."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = None, signed: bool = False):
        if max is None or max > MAX_DB_INT:
            max = MAX_DB_INT
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def install_converters(app: Flask) -> None:
    """Before any route is added: rules bind their converters when they are added."""
    app.url_map.converters["int"] = BoundedIntConverter


def wants_json() -> bool:
    """The request is the API's or a script's: answered in JSON (the guards ask it too)."""
    return request.path.startswith("/api/") or request.is_json




def _text(code: int) -> tuple[str, str]:
    title, message = PAGES.get(code, PAGES[500] if code >= 500 else PAGES[400])
    try:
        return gettext(title), gettext(message)
    except Exception:  # no translations at hand (e.g. outside a request): the Chinese
        return title, message


def is_outage(exc: BaseException | None) -> bool:
    """The database cannot be reached, or the connection died under the request."""
    return isinstance(exc, OperationalError | psycopg.OperationalError | sqlite3.OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


def error_response(code: int, json: bool = False, detail: str | None = None):
    """The answer for ``code``: JSON ``{"message": ...}`` for the API, else a page.
    ``detail``: a Chinese message of the app's own (``abort(403, reason)``) shown instead
    of the general one."""
    title, message = _text(code)
    message = detail or message
    if json or wants_json():
        return jsonify(message=message), code
    if code not in STANDALONE:
        try:
            appbuilder = current_app.appbuilder
            return render_template("errors/error.html", code=code, title=title, message=message,
                                   appbuilder=appbuilder,
                                   base_template=appbuilder.base_template), code
        except Exception:  # the layout needs the database (menu, account): fall back
            log.exception("error page %s rendered without the layout", code)
            rollback()
    try:
        return render_template("errors/standalone.html", code=code, title=title,
                               message=message), code
    except Exception:
        log.exception("standalone error page %s failed", code)
        return (f"<!DOCTYPE html><html lang=\"zh\"><meta charset=\"utf-8\"><title>{title}"
                f"</title><h1>{title}</h1><p>{message}</p></html>", code,
                {"Content-Type": "text/html; charset=utf-8"})


def rollback() -> None:
    """The request failed: nothing it did is committed at its end."""
    if has_request_context():
        g.request_failed = True
    unit_of_work.rollback(db.session)


def domain_error_response(exc: DomainError):
    """The one mapping of a refusal to an answer: JSON for the API and script calls; on the
    screens other refusals are flashed and the person goes back to the page they came from
    (same site only); 404/403/5xx, or no such page, are the error page with the message."""
    rollback()
    log.info("refused %s %s (%s): %s", request.method, request.endpoint, type(exc).__name__,
             exc.message)
    if wants_json():
        body = {"message": exc.message}
        if exc.errors:
            body["errors"] = exc.errors
        return jsonify(body), exc.status
    back = request.referrer or ""
    if exc.status in (403, 404) or exc.status >= 500 or not back.startswith(request.host_url) \
            or back == request.url:
        # no page of ours to go back to, or it is this one (which would refuse again): the
        # message on the error page, never a redirect to a POST-only route or a loop
        return error_response(exc.status, detail=exc.message)
    flash(exc.message, "warning")
    return redirect(back)


def body_has_nul(body: bytes) -> bool:
    """A JSON body carrying a NUL, escaped or raw (also asked by the heartbeat's front)."""
    return b"\\u0000" in body or b"\x00" in body


def _has_nul() -> bool:
    if "\x00" in request.path:
        return True
    sources = [request.args] + ([request.form] if request.method not in SAFE_METHODS else [])
    for source in sources:
        for key, values in source.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                return True
    if request.is_json:
        return body_has_nul(request.get_data(cache=True))
    return False


def _note_write(*args) -> None:
    if has_request_context():
        g.db_wrote = True


def _note_statement(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _note_write()


def _retry_read(exc: DBAPIError):
    """A GET or HEAD whose connection died (the server restarted, a backend was terminated)
    is run once more from its first guard, on a fresh connection, before giving up.

    Why this is safe: a disconnect ends the transaction, so nothing uncommitted survives it,
    and a request that has flushed nothing and sent no INSERT, UPDATE or DELETE
    (``g.db_wrote``, set by session listeners) has written nothing at all, so running it
    again is exactly a new request. Anything that wrote, and every POST, gets the 503 page
    instead; so does a second failure.
    Why here: Flask calls this handler inside ``full_dispatch_request`` with the request
    still open, so the retry runs the same before-request guards and view, and the
    answer goes through the usual after-request handling once."""
    if (request.method not in SAFE_METHODS or not exc.connection_invalidated
            or g.get("db_retried") or g.get("db_wrote")):
        return None
    g.db_retried = True
    rollback()
    log.warning("database connection lost during a read; retrying once: %s", exc.orig)
    try:
        rv = current_app.preprocess_request()
        if rv is None:
            rv = current_app.dispatch_request()
        return rv
    except Exception as again:  # to the app's handlers, as Flask would hand it
        # a second disconnect comes back here with db_retried set: the 503 page
        return current_app.handle_user_exception(again)


def register_errors(app: Flask) -> None:
    if not event.contains(Session, "after_flush", _note_write):
        event.listen(Session, "after_flush", _note_write)
        event.listen(Session, "do_orm_execute", _note_statement)

    @app.before_request
    def refuse_nul():
        g.flashes_before = list(session.get("_flashes", []))
        if _has_nul():
            abort(400)

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return domain_error_response(exc)

    @app.after_request
    def commit_request(resp):
        """The request's one commit (registered last, so it runs before the other
        after-request handlers and a failed commit still gets the security headers)."""
        if g.get("request_failed") or resp.status_code >= 500:
            return resp
        if not unit_of_work.has_pending(db.session, wrote=bool(g.get("db_wrote"))):
            return resp
        try:
            unit_of_work.commit(db.session)
        except NotSaved as exc:
            # whatever the view flashed ("已保存") is not true: only the guards' words stay
            session["_flashes"] = g.get("flashes_before", [])
            g.request_failed = True
            if wants_json():
                return current_app.make_response((jsonify(message=exc.message, saved=False),
                                                  exc.status))
            return current_app.make_response(error_response(exc.status, detail=exc.message))
        return resp

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400 or exc.response is not None:
            return exc  # redirects and prepared answers pass as they are
        g.request_failed = True  # an aborted request commits nothing it did
        # Werkzeug's own descriptions are English internals; a Chinese one is the app's
        detail = exc.description if CJK.search(exc.description or "") else None
        return error_response(exc.code, detail=detail)

    @app.errorhandler(InternalServerError)
    def internal_error(exc):
        # Reached only for unhandled errors when exceptions are not propagated (production)
        rollback()
        return error_response(500)

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError):
        return _retry_read(exc) or _unavailable(exc)

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        if not exc.connection_invalidated:
            raise exc  # not a fault of the connection: a 500 as any other error
        return _retry_read(exc) or _unavailable(exc)

    @app.errorhandler(psycopg.OperationalError)
    @app.errorhandler(sqlite3.OperationalError)
    def driver_unavailable(exc):
        # the driver's own error, unwrapped where the pool connects (the fronts' raw
        # connections): nothing to retry, the database cannot be reached
        return _unavailable(exc)

    def _unavailable(exc) -> tuple:
        log.error("database unavailable: %s", getattr(exc, "orig", exc))
        rollback()
        return error_response(503)
