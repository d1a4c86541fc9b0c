"""Account rules: pinyin accounts and clashes, the default password, the password policy."""
import pytest

from app.services.accounts import (
    check_new_password,
    default_password,
    pinyin_account,
    unique_account,
)
from app.services.validators import ValidationError


@pytest.mark.parametrize("name, account", [
    ("张三", "zhangsan"),
    ("买买提·艾力", "maimaitiaili"),
    ("吕丽", "lvli"),
    ("阿依古丽·吐尔逊", "ayigulituerxun"),
])
def test_pinyin_account(name, account):
    assert pinyin_account(name) == account


def test_clash_gets_a_number():
    taken = {"zhangsan", "zhangsan2"}
    assert unique_account("张三", taken.__contains__) == "zhangsan3"
    assert unique_account("李四", taken.__contains__) == "lisi"


def test_default_password_is_last_eight_with_upper_case_x():
    assert default_password("65010219800101008x") == "0101008X"


@pytest.mark.parametrize("password, reason", [
    ("abc123", "至少8位"),
    ("abcdefgh", "字母和数字"),
    ("12345678", "字母和数字"),
    ("0101008X", "默认密码"),
    ("zhangsan1", "账号"),
    ("Xinjiang2025", None),
    ("Zhangsan", "字母和数字"),
])
def test_password_policy(password, reason):
    kwargs = dict(account="zhangsan", id_number="65010219800101008X")
    if reason is None:
        check_new_password(password, **kwargs)
    else:
        with pytest.raises(ValidationError, match=reason):
            check_new_password(password, **kwargs)


def test_password_may_not_be_the_account():
    with pytest.raises(ValidationError, match="账号"):
        check_new_password("zhangsan88", account="zhangsan88")
