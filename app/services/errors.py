"""The one hierarchy of refusals: every rule of the app that says no raises a ``DomainError``
(or a subclass per area) with a Chinese message for the person and the HTTP status it means.

One handler (``app/errors.py``) turns it into the answer: JSON ``{"message": ...}`` for the
API and script calls, a flashed message and the page again for the screens. Views catch
``DomainError`` only where they show the form again with the message beside it.
"""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal: ``message`` is shown to the person as it is (Chinese); ``status`` is the
    HTTP status of the answer; ``errors`` (field name → message) when a form is refused."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None, *,
                 errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.errors: dict[str, Any] = dict(errors or {})

    def __str__(self) -> str:  # what logs show: the message, never the person's data
        return self.message


class NotFound(DomainError):
    """Missing, or not the asker's: both answer 404, so a stranger's object is
    indistinguishable from a missing one."""

    status = 404

    def __init__(self, message: str = "您访问的内容不存在或已被删除。", status: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, status, **kwargs)


class Forbidden(DomainError):
    """The asker may not do this now (the reason says why and what to do)."""

    status = 403


class Conflict(DomainError):
    """The object is not in a state that allows this (taken by someone else meanwhile,
    already done, out of time)."""

    status = 409


class NotSaved(DomainError):
    """The database refused or lost the commit: nothing was saved, and the answer says so
    (never "已保存")."""

    status = 503

    def __init__(self, message: str = "保存失败：数据库暂时无法访问，本次提交的内容没有保存，请稍后再试。",
                 status: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, status, **kwargs)
