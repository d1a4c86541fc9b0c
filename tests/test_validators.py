"""Validators: ID numbers (GB 11643), phones, e-mail, names, credit codes, dates."""
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.models import age_on
from app.services.validators import (
    ValidationError,
    check_id_agrees,
    id_check_char,
    make_id_number,
    normalize_name,
    parse_id_number,
    validate_credit_code,
    validate_date_range,
    validate_email,
    validate_name,
    validate_phone,
)

address_codes = st.from_regex(r"\A65[0-9]{4}\Z").filter(lambda c: c != "000000")
birth_dates = st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2005, 12, 31))
id_numbers = st.builds(make_id_number, address_codes, birth_dates, st.integers(0, 999))


@given(id_numbers)
def test_generated_id_numbers_pass_and_encode_birth_and_gender(number):
    info = parse_id_number(number)
    assert info.number == number
    assert info.birth_date.strftime("%Y%m%d") == number[6:14]
    assert info.gender == ("男" if int(number[16]) % 2 else "女")


@given(id_numbers, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_one_character_change_fails(number, position, char):
    changed = number[:position] + char + number[position + 1:]
    if changed == number:
        return
    with pytest.raises(ValidationError):
        parse_id_number(changed)


def test_lower_case_x_means_upper_case():
    first17 = "65010219800101008"
    assert id_check_char(first17) == "X"
    assert parse_id_number(first17 + "x").number == first17 + "X"


def test_old_address_codes_are_valid():
    # 6521xx (old 吐鲁番地区) and 6522xx (old 哈密地区) are still on cards people hold.
    for area in ("652101", "652201"):
        number = make_id_number(area, dt.date(1975, 5, 5), 123)
        assert parse_id_number(number).number == number


@pytest.mark.parametrize("value, message", [
    ("", "请输入身份证号"),
    ("65010219800101", "身份证号应为18位"),
    ("65010219800101003A", "格式不正确"),
    ("650102198002300035", "出生日期不存在"),
    ("650102" + (dt.date.today() + dt.timedelta(days=400)).strftime("%Y%m%d") + "0010",
     "出生日期不正确"),
])
def test_bad_id_numbers_say_why_in_chinese(value, message):
    with pytest.raises(ValidationError) as exc:
        parse_id_number(value)
    assert message in exc.value.message


def test_birth_and_gender_must_agree_with_id_number():
    number = make_id_number("650102", dt.date(1980, 1, 1), 1)  # odd: male
    check_id_agrees(number, dt.date(1980, 1, 1), "男")
    with pytest.raises(ValidationError, match="出生年月"):
        check_id_agrees(number, dt.date(1980, 1, 2), "男")
    with pytest.raises(ValidationError, match="性别"):
        check_id_agrees(number, dt.date(1980, 1, 1), "女")


@given(st.from_regex(r"\A1[3-9][0-9]{9}\Z"))
def test_valid_phones_pass_with_prefix_and_spaces(phone):
    assert validate_phone(phone) == phone
    assert validate_phone(f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}") == phone


@pytest.mark.parametrize("phone", ["", "12345678901", "1381234567", "138123456789", "2381234567a"])
def test_bad_phones(phone):
    with pytest.raises(ValidationError):
        validate_phone(phone)


def test_email():
    assert validate_email(" ZhangSan@163.com ") == "zhangsan@163.com"
    for bad in ("zhangsan", "a@b", "张三@163.com", "a b@163.com"):
        with pytest.raises(ValidationError):
            validate_email(bad)


def test_names_allow_the_middle_dot_in_its_typed_forms():
    assert validate_name("买买提·艾力") == "买买提·艾力"
    assert validate_name("买买提•艾力") == "买买提·艾力"
    assert normalize_name(" 张 三 ") == "张三"
    for bad in ("zhang", "张3", "·张三", "张三·"):
        with pytest.raises(ValidationError):
            validate_name(bad)


def test_credit_code_check_character():
    assert validate_credit_code("91650100MA775X4E3W") == "91650100MA775X4E3W"
    assert validate_credit_code("") == ""
    with pytest.raises(ValidationError, match="校验位"):
        validate_credit_code("91650100MA775X4E3L")


def test_date_ranges():
    today = dt.date(2025, 6, 1)
    validate_date_range(dt.date(2001, 3, 1), dt.date(2002, 7, 2), today)
    with pytest.raises(ValidationError, match="不能晚于结束时间"):
        validate_date_range(dt.date(2003, 1, 1), dt.date(2002, 1, 1), today)
    with pytest.raises(ValidationError, match="晚于今天"):
        validate_date_range(dt.date(2026, 1, 1), None, today)


def test_age_counts_full_years():
    assert age_on(dt.date(1985, 6, 2), dt.date(2025, 6, 1)) == 39
    assert age_on(dt.date(1985, 6, 1), dt.date(2025, 6, 1)) == 40
