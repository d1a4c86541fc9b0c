"""One place commits. Services only ``flush()``; the work of a request is committed once,
when its answer is ready (``app/errors.py`` calls ``commit`` after the view), the work of a
job once per item or at its end (the Celery task and CLI runners call it), following
Indico's request handler (``RH._process`` commits after the handler ran).

A failed commit (the connection died, the disk is full) rolls back and raises ``NotSaved``
so the person is told that nothing was saved.
"""
from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from app.extensions import db
from app.services.errors import NotSaved

log = logging.getLogger(__name__)


def _session(session: Session | None) -> Session:
    return session if session is not None else db.session


def rollback(session: Session | None = None) -> None:
    try:
        _session(session).rollback()
    except Exception:  # the connection is gone: the pool replaces it
        log.warning("rollback failed", exc_info=True)


def commit(session: Session | None = None) -> None:
    """Commit the unit of work; on a database fault roll back and raise ``NotSaved``.
    Integrity errors (a rule of the schema) are not faults and pass as they are."""
    s = _session(session)
    try:
        s.commit()
    except (OperationalError, DBAPIError) as exc:
        if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError) \
                and not exc.connection_invalidated:
            rollback(s)
            raise
        log.error("commit failed, nothing saved: %s", getattr(exc, "orig", exc))
        rollback(s)
        raise NotSaved() from exc


def has_pending(session: Session | None = None, wrote: bool = False) -> bool:
    """Whether there is anything to commit: objects changed in the session and not flushed
    yet, or ``wrote`` (the caller saw a flush or an INSERT/UPDATE/DELETE). A request that
    only read ends without a COMMIT round trip."""
    s = _session(session)
    return wrote or bool(s.new or s.dirty or s.deleted)
