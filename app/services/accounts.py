"""Account rules: pinyin account names, the default password, the password policy."""
from __future__ import annotations

import re
from collections.abc import Callable

from pypinyin import Style, lazy_pinyin

from app.services.validators import ValidationError, normalize_id_number

PASSWORD_MIN_LENGTH = 8


def pinyin_account(name: str) -> str:
    """张三 → zhangsan; 买买提·艾力 → maimaitiaili (dots and spaces dropped)."""
    syllables = lazy_pinyin(name, style=Style.NORMAL, errors="ignore")
    account = re.sub(r"[^a-z0-9]", "", "".join(syllables).lower().replace("ü", "v"))
    return account or "expert"


def unique_account(name: str, taken: Callable[[str], bool]) -> str:
    """The pinyin account, or with a number appended on a clash: zhangsan, zhangsan2, ..."""
    base = pinyin_account(name)
    if not taken(base):
        return base
    n = 2
    while taken(f"{base}{n}"):
        n += 1
    return f"{base}{n}"


def default_password(id_number: str) -> str:
    """The last eight characters of the ID number, with an upper-case X."""
    return normalize_id_number(id_number)[-8:]


def check_new_password(
    password: str, *, account: str, id_number: str | None = None, phone: str | None = None
) -> None:
    """Policy for a chosen password; raises ValidationError with the reason."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValidationError(f"新密码至少{PASSWORD_MIN_LENGTH}位")
    if len(password) > 128:
        raise ValidationError("新密码过长")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        raise ValidationError("新密码须同时包含字母和数字")
    if id_number and password.upper() == default_password(id_number):
        raise ValidationError("新密码不能是默认密码（身份证后八位）")
    lowered = password.lower()
    if account and len(account) >= 3 and account.lower() in lowered:
        raise ValidationError("新密码不能包含账号")
    if phone and phone in password:
        raise ValidationError("新密码不能包含手机号码")


class FieldErrors(Exception):
    """Errors keyed by form field name, each shown beside its field."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def hash_password(password: str) -> str:
    from flask import current_app
    from werkzeug.security import generate_password_hash

    return generate_password_hash(
        password,
        method=current_app.config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
        salt_length=current_app.config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
    )


def change_password(user, current_password: str, new_password: str, confirm: str) -> None:
    """修改密码: needs the current password; the new one must meet the policy."""
    import datetime as dt

    from werkzeug.security import check_password_hash

    from app.models import Expert

    errors: dict[str, str] = {}
    if not current_password or not user.password or not check_password_hash(
        user.password, current_password
    ):
        errors["current_password"] = "原密码不正确"
    expert = Expert.query_for_user(user.id)
    try:
        check_new_password(
            new_password or "",
            account=user.username,
            id_number=expert.id_number if expert else None,
            phone=expert.phone if expert else None,
        )
        if current_password and new_password == current_password:
            raise ValidationError("新密码不能与原密码相同")
    except ValidationError as exc:
        errors["new_password"] = exc.message
    if (new_password or "") != (confirm or ""):
        errors["confirm_password"] = "两次输入的新密码不一致"
    if errors:
        raise FieldErrors(errors)
    user.password = hash_password(new_password)
    user.must_change_password = False
    user.password_changed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
