"""Account rules: pinyin account names, the default password, the password policy."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from flask import current_app
from pypinyin import Style, lazy_pinyin
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.models import AppUser, ChangeStatus, Expert, ProfileChange, StoredFile, utcnow
from app.services.access import own_expert, own_file
from app.services.change_requests import shown
from app.services.errors import DomainError
from app.services.validators import (
    ValidationError,
    normalize_id_number,
    validate_email,
    validate_phone,
)

PASSWORD_MIN_LENGTH = 8


# 导入专家：账号的拼音 (README): characters of Uyghur and Kazakh names, transliterated in
# Chinese characters, that pypinyin reads as in ordinary words while the usual account
# spelling (and the name's Latin form) takes the other reading. Kept to cases where the two
# differ; each is documented in the README.
NAME_SYLLABLES = {
    "都": "du",  # 阿不都 abudu (Abdu), 都拉 dula; pypinyin: dou (as in 都是)
    "卜": "bu",  # 阿卜杜 abudu; pypinyin: bo (as in 萝卜)
    "勒": "le",  # 阿卜杜勒 abudule, 阿勒泰 aletai, 叶勒 yele; pypinyin: lei (as in 勒紧)
}
ACCOUNT_MAX = 64  # what an account may be (AppUser.username has room for more)
ACCOUNT_PINYIN_MAX = 60  # the generated part, leaving room for a clash number
# 账号: lower-case letters and digits, with . _ - inside; what the login form accepts as typed
ACCOUNT_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def _syllables(run: str) -> list[str]:
    """One run of Chinese characters: pypinyin's reading (phrases included), with the
    names' own readings of NAME_SYLLABLES where pypinyin gave one syllable per character."""
    syllables = lazy_pinyin(run, style=Style.NORMAL, errors="ignore")
    if len(syllables) != len(run):
        return syllables
    return [NAME_SYLLABLES.get(char, syllable) for char, syllable in zip(run, syllables)]


def pinyin_account(name: str) -> str:
    """张三 → zhangsan; 买买提·艾力 → maimaitiaili (dots and spaces dropped); 阿不都 → abudu."""
    syllables = [s for run in _HAN_RUN.findall(name or "") for s in _syllables(run)]
    account = re.sub(r"[^a-z0-9]", "", "".join(syllables).lower().replace("ü", "v"))
    return account[:ACCOUNT_PINYIN_MAX] or "expert"


def normalize_account(value: str | None) -> str:
    return (value or "").strip().lower()


def validate_account(value: str | None) -> str:
    """An account typed by staff (导入专家 → 账号): the expert's own from before.
    Raises ValidationError with the reason in Chinese."""
    account = normalize_account(value)
    if not account:
        raise ValidationError("请填写账号")
    if len(account) > ACCOUNT_MAX:
        raise ValidationError(f"账号不能超过{ACCOUNT_MAX}个字符")
    if not ACCOUNT_RE.match(account):
        raise ValidationError("账号只能包含小写字母、数字和 . _ -，且以字母或数字开头和结尾")
    return account


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


class FieldErrors(DomainError):
    """Errors keyed by form field name, each shown beside its field (the form comes back)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(next(iter(errors.values()), "请按提示修改"), errors=errors)


def hash_password(password: str) -> str:
    # the hash settings are FAB's, so staff and experts hash alike
    return generate_password_hash(
        password,
        method=current_app.config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
        salt_length=current_app.config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
    )


def change_password(user: AppUser, current_password: str, new_password: str, confirm: str) -> None:
    """修改密码: needs the current password; the new one must meet the policy."""
    errors: dict[str, str] = {}
    if not current_password or not user.password or not check_password_hash(
        user.password, current_password
    ):
        errors["current_password"] = "原密码不正确"
    expert = own_expert(db.session, user)
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


def update_basic_profile(session: Session, user: AppUser, *, phone: str, email: str,
                         avatar: StoredFile | None = None) -> dict[str, tuple[Any, Any]]:
    """个人中心 → 基本资料: phone, e-mail, avatar. An expert's phone and e-mail are those of
    their profile (the phone is also a login, so it must be nobody else's); staff keep
    theirs on the account. Returns what changed, field → (before, after)."""
    errors: dict[str, str] = {}
    expert = own_expert(session, user)
    try:
        # staff may leave the phone empty; an expert's is required (it is a login)
        phone = validate_phone(phone) if expert is not None or (phone or "").strip() else None
    except ValidationError as exc:
        errors["phone"] = exc.message
    else:
        clash = select(Expert.id).where(Expert.phone == phone)
        if expert is not None:
            clash = clash.where(Expert.id != expert.id)
        taken_by_account = session.execute(select(AppUser.id).where(
            AppUser.username == phone, AppUser.id != user.id)).first()
        if phone and (session.execute(clash).first() or taken_by_account):
            errors["phone"] = "该手机号码已被其他账号使用"
    try:
        email = validate_email(email)
    except ValidationError as exc:
        errors["email"] = exc.message
    else:
        if expert is None and session.execute(select(AppUser.id).where(
                AppUser.email == email, AppUser.id != user.id)).first():
            errors["email"] = "该电子邮箱已被其他账号使用"
    if avatar is not None and own_file(session, avatar.id, user.id) is None:
        errors["avatar"] = "请重新上传头像"
    if errors:
        raise FieldErrors(errors)
    holder = expert if expert is not None else user
    changed: dict[str, tuple] = {}
    for name, value in (("phone", phone), ("email", email)):
        if getattr(holder, name) != value:
            changed[name] = (getattr(holder, name), value)
            setattr(holder, name, value)
    if avatar is not None and user.avatar_file_id != avatar.id:
        changed["avatar"] = (user.avatar_file_id, avatar.id)
        user.avatar_file_id = avatar.id
    if expert is not None and changed.keys() & {"phone", "email"}:
        expert.version = (expert.version or 0) + 1
        labels = {"phone": "本人手机号码", "email": "本人电子邮箱"}
        for name in changed.keys() & labels.keys():
            session.add(ProfileChange(
                expert=expert, section="个人中心", field=labels[name],
                before=shown(name, changed[name][0]), after=shown(name, changed[name][1]),
                status=ChangeStatus.APPLIED.value, changed_at=utcnow(), changed_by_id=user.id))
    return changed
