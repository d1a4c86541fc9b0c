"""Validators used by forms, the importer and the API alike.

Each returns the normalised value or raises ``ValidationError`` with a Chinese
message that the caller shows beside the field.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import email_validator
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc

from app.models import beijing_today
from app.services.errors import DomainError

_ID_RE = re.compile(r"^\d{17}[\dX]$")
_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
# Chinese characters, plus the middle dot of Uyghur and Kazakh names (several
# code points are typed for it on phones and PCs; all mean the same dot).
_NAME_DOTS = "·•・‧∙⋅"
_NAME_RE = re.compile(r"^[\u3400-\u9fff]+(·[\u3400-\u9fff]+)*$")
# What <input type="datetime-local"> sends (2026-12-01T09:00[:00]) and what a person types
# where the browser shows a plain text box (2026-12-01 09:00[:00], 2026/12/01 ...).
_DATETIME_RE = re.compile(
    r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?$")
# The years a date-and-time field accepts (the picker's min and max say the same).
DATETIME_FIRST_YEAR, DATETIME_LAST_YEAR = 2000, 2099


class ValidationError(DomainError, ValueError):
    """A value the user must correct; ``message`` is shown to them in Chinese. Also a
    ``ValueError``, so WTForms and parsers that expect one treat it as bad input."""

    def __init__(self, message: str, status: int | None = None, **kwargs):
        DomainError.__init__(self, message, status, **kwargs)


@dataclass(frozen=True)
class IdNumberInfo:
    number: str
    birth_date: dt.date
    gender: str  # "男" or "女"


def id_check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits (python-stdnum's cn.ric)."""
    return ric.calc_check_digit(first17 + "0")


def normalize_id_number(value: str | None) -> str:
    return (value or "").strip().replace(" ", "").upper()


def parse_id_number(value: str | None, today: dt.date | None = None) -> IdNumberInfo:
    """Check a national ID number per GB 11643 and return what it encodes.

    python-stdnum's cn.ric computes the check character and reads the birth date; its
    ``validate`` is not used whole: it also looks the address code up in its own table, and
    old codes (6521xx, ...) are still printed on valid cards, so the address is checked for
    shape only. The order of the checks gives the most useful message first.
    """
    number = normalize_id_number(value)
    if not number:
        raise ValidationError("请输入身份证号")
    if len(number) != 18:
        raise ValidationError("身份证号应为18位")
    if not _ID_RE.match(number):
        raise ValidationError("身份证号格式不正确：前17位应为数字，最后一位为数字或X")
    if number[:2] in ("00",) or number[:6] == "000000":
        raise ValidationError("身份证号的地址码不正确")
    try:
        birth = ric.get_birth_date(number)
    except stdnum_errors.ValidationError:
        raise ValidationError("身份证号中的出生日期不存在") from None
    today = today or beijing_today()
    if birth > today or birth.year < 1900:
        raise ValidationError("身份证号中的出生日期不正确")
    if ric.calc_check_digit(number) != number[17]:
        raise ValidationError("身份证号校验位不正确，请核对")
    gender = "男" if int(number[16]) % 2 == 1 else "女"
    return IdNumberInfo(number=number, birth_date=birth, gender=gender)


def validate_id_number(value: str | None) -> str:
    return parse_id_number(value).number


def check_id_agrees(id_number: str, birth_date: dt.date | None, gender: str | None) -> None:
    """出生年月 and 性别 must be those the ID number encodes."""
    info = parse_id_number(id_number)
    if birth_date is not None and birth_date != info.birth_date:
        raise ValidationError(
            f"出生年月与身份证号不一致（身份证号为 {info.birth_date:%Y-%m-%d}）"
        )
    if gender and gender != info.gender:
        raise ValidationError(f"性别与身份证号不一致（身份证号为{info.gender}）")


def normalize_phone(value: str | None) -> str:
    phone = re.sub(r"[\s\-]", "", value or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    elif phone.startswith("0086"):
        phone = phone[4:]
    return phone


def validate_phone(value: str | None) -> str:
    phone = normalize_phone(value)
    if not phone:
        raise ValidationError("请输入手机号码")
    if not _PHONE_RE.match(phone):
        raise ValidationError("手机号码格式不正确，应为以1开头的11位数字")
    return phone


def looks_like_phone(value: str | None) -> bool:
    return bool(_PHONE_RE.match(normalize_phone(value)))


def validate_email(value: str | None) -> str:
    """An e-mail address by email-validator (syntax only: no DNS look-up), lower-cased."""
    email = (value or "").strip()
    if not email:
        raise ValidationError("请输入电子邮箱")
    try:
        checked = email_validator.validate_email(
            email, check_deliverability=False, allow_smtputf8=False)
    except email_validator.EmailNotValidError:
        raise ValidationError("电子邮箱格式不正确，例如 zhangsan@163.com") from None
    return checked.normalized.lower()


def normalize_name(value: str | None) -> str:
    name = re.sub(r"\s+", "", value or "")
    for dot in _NAME_DOTS:
        name = name.replace(dot, "·")
    return name


def validate_name(value: str | None) -> str:
    name = normalize_name(value)
    if not name:
        raise ValidationError("请输入姓名")
    if len(name) > 40:
        raise ValidationError("姓名过长")
    if not _NAME_RE.match(name):
        raise ValidationError("姓名应为汉字，少数民族姓名中间用“·”分隔，如 买买提·艾力")
    return name


def validate_credit_code(value: str | None) -> str:
    """统一社会信用代码 (GB 32100) by python-stdnum's cn.uscc: 18 characters, check verified."""
    code = (value or "").strip().upper()
    if not code:
        return ""
    try:
        return uscc.validate(code)
    except stdnum_errors.InvalidChecksum:
        raise ValidationError("统一社会信用代码校验位不正确，请核对") from None
    except stdnum_errors.ValidationError:
        raise ValidationError("统一社会信用代码应为18位数字或大写字母") from None


# ---------------------------------------------------------------- dates
# The date rules of every form, written once; "today" is Beijing's (the manual's screens).

def parse_date(value: str | dt.date | None) -> dt.date | None:
    """A date as typed (年-月-日) or picked; None when empty."""
    if value is None or isinstance(value, dt.date):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError("日期格式应为 年-月-日，如 2001-03-01") from None


def check_not_after_today(day: dt.date | None, label: str, today: dt.date | None = None) -> None:
    """A date that happened (a start, an end, an issue date) is not later than today."""
    if day is not None and day > (today or beijing_today()):
        raise ValidationError(f"{label}不能晚于今天")


def check_start_not_after_end(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and start > end:
        raise ValidationError("开始时间不能晚于结束时间")


def validate_date_range(
    start: dt.date | None, end: dt.date | None, today: dt.date | None = None
) -> None:
    check_not_after_today(start, "开始时间", today)
    check_not_after_today(end, "结束时间", today)
    check_start_not_after_end(start, end)


def parse_local_datetime(value: str | None) -> dt.datetime:
    """A wall-clock date and time as typed or picked (seconds optional), without microseconds.

    The caller decides the time zone; a date alone is refused rather than read as midnight,
    which would silently move an end time to the start of its day.
    """
    text = (value or "").strip().replace("：", ":")
    if not text:
        raise ValidationError("请输入日期和时间")
    match = _DATETIME_RE.match(text)
    if not match:
        raise ValidationError("请输入日期和时间，如 2026-12-01 09:00 或 2026-12-01 09:00:00")
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
    try:
        parsed = dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise ValidationError("日期或时间不存在，请检查") from None
    if not DATETIME_FIRST_YEAR <= parsed.year <= DATETIME_LAST_YEAR:
        raise ValidationError("年份应在 2000 至 2099 之间")
    return parsed


def make_id_number(address_code: str, birth_date: dt.date, sequence: int) -> str:
    """A well-formed ID number (for demo data and tests): the check character computed."""
    first17 = f"{address_code:0>6}"[:6] + birth_date.strftime("%Y%m%d") + f"{sequence % 1000:03d}"
    return first17 + id_check_char(first17)
