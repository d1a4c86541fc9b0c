"""Validators used by forms, the importer and the API alike.

Each returns the normalised value or raises ``ValidationError`` with a Chinese
message that the caller shows beside the field.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from app.services.errors import DomainError

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")
_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
# Chinese characters, plus the middle dot of Uyghur and Kazakh names (several
# code points are typed for it on phones and PCs; all mean the same dot).
_NAME_DOTS = "·•・‧∙⋅"
_NAME_RE = re.compile(r"^[\u3400-\u9fff]+(·[\u3400-\u9fff]+)*$")
_CREDIT_CODE_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
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
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS))
    return ID_CHECK_CHARS[total % 11]


def normalize_id_number(value: str | None) -> str:
    return (value or "").strip().replace(" ", "").upper()


def parse_id_number(value: str | None, today: dt.date | None = None) -> IdNumberInfo:
    """Check a national ID number per GB 11643 and return what it encodes.

    The address code is checked for shape only: old codes (6521xx, ...) are
    still printed on valid cards.
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
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError("身份证号中的出生日期不存在") from None
    today = today or dt.date.today()
    if birth > today or birth.year < 1900:
        raise ValidationError("身份证号中的出生日期不正确")
    if id_check_char(number[:17]) != number[17]:
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
    email = (value or "").strip()
    if not email:
        raise ValidationError("请输入电子邮箱")
    if len(email) > 254 or not _EMAIL_RE.match(email):
        raise ValidationError("电子邮箱格式不正确，例如 zhangsan@163.com")
    return email.lower()


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
    """统一社会信用代码 (GB 32100): 18 characters; the check character is verified."""
    code = (value or "").strip().upper()
    if not code:
        return ""
    if not _CREDIT_CODE_RE.match(code):
        raise ValidationError("统一社会信用代码应为18位数字或大写字母")
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(alphabet.index(c) * w for c, w in zip(code[:17], weights))
    if alphabet[(31 - total % 31) % 31] != code[17]:
        raise ValidationError("统一社会信用代码校验位不正确，请核对")
    return code


def validate_date_range(
    start: dt.date | None, end: dt.date | None, today: dt.date | None = None
) -> None:
    today = today or dt.date.today()
    if start and start > today:
        raise ValidationError("开始时间不能晚于今天")
    if end and end > today:
        raise ValidationError("结束时间不能晚于今天")
    if start and end and start > end:
        raise ValidationError("开始时间不能晚于结束时间")


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
