"""系统设置: the values the administrator changes on the screen, over the environment's.

config.py (the environment) gives every setting's default; a row of ``system_setting``
overrides it, so a value changed on the screen holds in every web and Celery worker on
every machine from the next request on, with no restart:

- ``CATALOGUE``: each setting's key, group, Chinese label and help text, kind, unit and range;
  ``parse`` checks what was typed (Chinese messages), ``shown`` writes a value as typed;
- ``config()`` is the app's configuration with the rows laid over it (a Mapping read
  where ``current_app.config[...]`` was read before). The rows are one small query, made
  the first time a request needs a setting and kept in that request (its WSGI environ):
  a request that needs none makes none, and the next request sees any change;
- ``front_config(app)`` is the same for the WSGI fronts (the study heartbeat, the
  certificate download, outside Flask's request machinery): the rows are kept by the
  process for ``FRONT_RECHECK_SECONDS`` so the busiest route stays one statement; a front
  only answers a session that its statement finds within the limits, and every other
  request of that session goes through ``config()``;
- ``snapshot(session)`` reads the rows afresh, for Celery jobs (no request; a worker's app
  context lives for many tasks);
- ``change`` / ``reset`` write a row (or delete it: 恢复默认) and audit before/after.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_request_context, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import SystemSetting, utcnow
from app.services import audit
from app.services.audit import Action, Actor
from app.services.uploads import size_words, stored_path
from app.services.validators import ValidationError

KB, MB = 1024, 1024 * 1024
INT, TEXT, BYTES, IMAGE = "int", "text", "bytes", "image"
SEAL_KEY = "CERTIFICATE_SEAL_IMAGE"
ENVIRON_KEY = "app.system_settings"  # the request's rows, in its WSGI environ
FRONT_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Setting:
    key: str
    group: str
    label: str
    help: str
    kind: str = INT
    unit: str = ""
    minimum: int | None = None
    maximum: int | None = None


GROUPS = ("入库条件", "专家证书", "培训", "上传限制", "登录会话", "登录保护")
CATALOGUE: tuple[Setting, ...] = (
    Setting("ADMISSION_MAX_AGE", "入库条件", "年龄上限", "审核时超过此年龄的申请人标为不符合", INT,
            "岁", 30, 100),
    Setting("ADMISSION_MIN_WORK_YEARS", "入库条件", "最少工作年限",
            "审核时工作经历合计不足此年限的标为不符合", INT, "年", 0, 40),
    Setting("CERTIFICATE_ISSUER", "专家证书", "发证机关", "印在新生成的证书上，2 至 60 个字", TEXT,
            "", 2, 60),
    Setting(SEAL_KEY, "专家证书", "证书印章", "PNG 图片，建议透明背景、正方形；用于新生成的证书",
            IMAGE),
    Setting("CERTIFICATE_MINUTES_PER_HOUR", "专家证书", "每学时分钟数",
            "证书上的学时 = 要求学习分钟数 ÷ 每学时分钟数（向下取整，至少 1）", INT, "分钟", 1, 120),
    Setting("ROUND_OPEN_DELAY_DAYS", "培训", "缴费后开放学习（默认）",
            "新建培训批次时“缴费后开放（天）”的默认值，如 2 即 T+2", INT, "天", 0, 30),
    Setting("UPLOAD_MAX_IMAGE_BYTES", "上传限制", "图片大小上限",
            "照片、身份证等图片；填写如 2 MB 或 500 KB", BYTES, "", 100 * KB, 20 * MB),
    Setting("UPLOAD_MAX_DOCUMENT_BYTES", "上传限制", "文件大小上限",
            "证书、签字表、附件（PDF 或图片）；填写如 10 MB", BYTES, "", 100 * KB, 20 * MB),
    Setting("SESSION_IDLE_MINUTES", "登录会话", "闲置退出", "超过此时间未操作需重新登录", INT,
            "分钟", 5, 480),
    Setting("SESSION_ABSOLUTE_HOURS", "登录会话", "最长登录时间", "登录超过此时间需重新登录", INT,
            "小时", 1, 72),
    Setting("LOGIN_MAX_FAILURES", "登录保护", "锁定前允许的密码错误次数",
            "连续输错达到此次数即锁定账号", INT, "次", 3, 20),
    Setting("LOGIN_LOCK_MINUTES", "登录保护", "锁定时长", "锁定的账号到时自动解锁", INT, "分钟", 1,
            1440),
    Setting("LOGIN_CAPTCHA_AFTER", "登录保护", "出现验证码前允许的错误次数",
            "输错达到此次数后登录需填写验证码", INT, "次", 1, 20),
)
BY_KEY = {s.key: s for s in CATALOGUE}


# --- reading ------------------------------------------------------------------------------

class SettingsConfig(Mapping):
    """The app's config with the settings' rows laid over it (read-only)."""

    def __init__(self, rows: Mapping[str, Any], config: Mapping[str, Any]):
        self.rows = rows
        self.config = config

    def __getitem__(self, key: str) -> Any:
        if key in self.rows:
            if key == SEAL_KEY:  # kept as the upload's stored name
                return str(stored_path(self.config["UPLOAD_FOLDER"], self.rows[key]))
            return self.rows[key]
        return self.config[key]

    def __iter__(self) -> Iterator[str]:
        return iter(set(self.config) | set(self.rows))

    def __len__(self) -> int:
        return len(set(self.config) | set(self.rows))


def load(session: Session) -> dict[str, Any]:
    """The rows, decoded; keys no longer in the catalogue are ignored."""
    rows = session.execute(select(SystemSetting.key, SystemSetting.value)).all()
    return {key: json.loads(value) for key, value in rows if key in BY_KEY}


def _rows() -> dict[str, Any]:
    if not has_request_context():
        return load(db.session)
    found = request.environ.get(ENVIRON_KEY)
    if found is None:
        found = request.environ[ENVIRON_KEY] = load(db.session)
    return found


def config() -> SettingsConfig:
    """The configuration as the settings make it (no query until a key is read)."""
    return SettingsConfig(_LazyRows(), current_app.config)


class _LazyRows(Mapping):
    """The request's rows, loaded on the first lookup: ``config()`` costs nothing until a
    caller reads a key (a guard that returns early reads none)."""

    def __init__(self):
        self._rows: dict[str, Any] | None = None

    def _get(self) -> dict[str, Any]:
        if self._rows is None:
            self._rows = _rows()
        return self._rows

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __contains__(self, key: object) -> bool:
        return key in BY_KEY and key in self._get()

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def get(key: str) -> Any:
    return config()[key]


def values() -> dict[str, Any]:
    """Every setting's current value (the seal as its file's path)."""
    cfg = config()
    return {s.key: cfg[s.key] for s in CATALOGUE}


def snapshot(session: Session, cfg: Mapping[str, Any]) -> SettingsConfig:
    """The settings read now, on ``session`` (Celery jobs, the command line)."""
    return SettingsConfig(load(session), cfg)


_front_lock = threading.Lock()
_front_rows: dict[int, tuple[float, dict[str, Any]]] = {}


def front_config(app: Flask) -> SettingsConfig:
    """``config()`` for a WSGI front, its rows re-read at most every FRONT_RECHECK_SECONDS."""
    now = time.monotonic()
    found = _front_rows.get(id(app))
    if found is None or now > found[0]:
        with _front_lock, app.app_context():
            try:
                rows = load(db.session)
            finally:
                db.session.remove()
        found = _front_rows[id(app)] = (now + FRONT_RECHECK_SECONDS, rows)
    return SettingsConfig(found[1], app.config)


def forget_front_cache() -> None:
    """Tests: the fronts read the rows on their next request."""
    _front_rows.clear()


def default(key: str) -> Any:
    return current_app.config[key]


def is_default(key: str) -> bool:
    return key not in _rows()


# --- typed values ---------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mb|m|兆|kb|k|千字节)?\s*$", re.IGNORECASE)


def shown(key: str, value: Any) -> str:
    """A value as the form shows it (and as it would be typed)."""
    setting = BY_KEY[key]
    if setting.kind == BYTES:
        return size_words(int(value))
    if setting.kind == IMAGE:
        return os.path.basename(str(value or ""))
    return str(value)


def _range_message(setting: Setting) -> str:
    if setting.kind == BYTES:
        return f"{setting.label}应在 {size_words(setting.minimum)} 至 {size_words(setting.maximum)} 之间"
    return f"{setting.label}应为 {setting.minimum} 至 {setting.maximum} 之间的整数"


def parse(key: str, typed: str | None) -> Any:
    """The value of what was typed, or ValidationError with a Chinese message."""
    setting = BY_KEY[key]
    text = (typed or "").strip()
    if not text:
        raise ValidationError(f"请填写{setting.label}")
    if setting.kind == TEXT:
        if not setting.minimum <= len(text) <= setting.maximum:
            raise ValidationError(f"{setting.label}应为 {setting.minimum} 至 {setting.maximum} 个字")
        return text
    if setting.kind == BYTES:
        match = _SIZE.match(text)
        if not match:
            raise ValidationError(f"{setting.label}请填写如 2 MB 或 500 KB")
        unit = (match.group(2) or "mb").lower()
        value = int(float(match.group(1)) * (KB if unit in ("kb", "k", "千字节") else MB))
        if not setting.minimum <= value <= setting.maximum:
            raise ValidationError(_range_message(setting))
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        if limit and value > limit:
            raise ValidationError(f"{setting.label}不能超过服务器允许的请求大小 {size_words(limit)}")
        return value
    if setting.kind == INT:
        if not re.fullmatch(r"\d{1,6}", text):
            raise ValidationError(_range_message(setting))
        value = int(text)
        if not setting.minimum <= value <= setting.maximum:
            raise ValidationError(_range_message(setting))
        return value
    raise ValidationError(f"{setting.label}不能在此填写")


def check_together(new: Mapping[str, Any]) -> dict[str, str]:
    """Rules between settings: {key: message} for the ones that break them."""
    errors = {}
    idle, absolute = new.get("SESSION_IDLE_MINUTES"), new.get("SESSION_ABSOLUTE_HOURS")
    if idle is not None and absolute is not None and idle > absolute * 60:
        errors["SESSION_IDLE_MINUTES"] = "闲置退出时间不能长于最长登录时间"
    captcha, failures = new.get("LOGIN_CAPTCHA_AFTER"), new.get("LOGIN_MAX_FAILURES")
    if captcha is not None and failures is not None and captcha > failures:
        errors["LOGIN_CAPTCHA_AFTER"] = "出现验证码前的错误次数不能多于锁定前的次数"
    return errors


# --- writing -------------------------------------------------------------------------------

def _forget_request_rows() -> None:
    if has_request_context():
        request.environ.pop(ENVIRON_KEY, None)


def change(session: Session, actor: Actor, key: str, value: Any) -> bool:
    """Store ``value`` (already parsed) for ``key``; audited with before/after. False when
    it is the value in force already. Flushes."""
    setting = BY_KEY[key]
    row = session.get(SystemSetting, key)
    before = json.loads(row.value) if row is not None else None
    if (before if row is not None else default(key)) == value and (row is not None or key != SEAL_KEY):
        return False  # the value in force already (a row is only made for a changed value)
    before_shown = shown(key, before if row is not None else default(key))
    if row is None:
        row = SystemSetting(key=key)
        session.add(row)
    row.value = json.dumps(value, ensure_ascii=False)
    row.changed_by_id, row.changed_at = actor.id, utcnow()
    audit.record(session, Action.SETTING_CHANGE, actor=actor, object_type="系统设置",
                 object_id=key, detail=setting.label,
                 before={setting.label: before_shown}, after={setting.label: shown(key, value)})
    session.flush()
    _forget_request_rows()
    return True


def reset(session: Session, actor: Actor, key: str) -> bool:
    """恢复默认: the environment's value again (the row goes). False when it was in force."""
    setting = BY_KEY[key]
    row = session.get(SystemSetting, key)
    if row is None:
        return False
    before = json.loads(row.value)
    session.delete(row)
    audit.record(session, Action.SETTING_CHANGE, actor=actor, object_type="系统设置",
                 object_id=key, detail=f"{setting.label}（恢复默认）",
                 before={setting.label: shown(key, before)},
                 after={setting.label: shown(key, default(key))})
    session.flush()
    _forget_request_rows()
    return True
