"""导入专家：账号的拼音 — the generated account of any name is a valid ASCII account;
Uyghur and Kazakh names take their usual spelling (README)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.accounts import (
    ACCOUNT_MAX,
    ACCOUNT_RE,
    NAME_SYLLABLES,
    pinyin_account,
    unique_account,
    validate_account,
)
from app.services.validators import ValidationError


@pytest.mark.parametrize("name, account", [
    ("张三", "zhangsan"),
    ("阿不都", "abudu"),  # pypinyin alone: abudou
    ("阿不都热合曼", "abudureheman"),
    ("阿卜杜拉", "abudula"),  # pypinyin alone: abodula
    ("阿卜杜勒·艾力", "abuduleaili"),  # pypinyin alone: abodulei
    ("艾拜都拉", "aibaidula"),
    ("都来提·吐尔逊", "dulaitituerxun"),
    ("阿勒泰", "aletai"),
    ("叶勒波拉提", "yelebolati"),
    # read alike by pypinyin and the usual spelling: left to pypinyin
    ("买买提·艾力", "maimaitiaili"),
    ("吐尔逊", "tuerxun"),
    ("古丽", "guli"),
    ("热依拉", "reyila"),
    ("热合曼", "reheman"),
    ("努尔兰", "nuerlan"),
    ("吕丽", "lvli"),
])
def test_usual_spellings(name, account):
    assert pinyin_account(name) == account


def test_dictionary_only_where_pypinyin_differs():
    from pypinyin import Style, lazy_pinyin

    for char, syllable in NAME_SYLLABLES.items():
        assert lazy_pinyin(char, style=Style.NORMAL) != [syllable], char
        assert syllable.isascii() and syllable.isalpha()


CHINESE = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
NAMES = st.lists(st.text(CHINESE, min_size=1, max_size=12), min_size=1, max_size=4).map("·".join)


@given(NAMES)
@settings(max_examples=300, deadline=None)
def test_any_chinese_name_gives_a_valid_ascii_account(name):
    account = pinyin_account(name)
    assert account.isascii()
    assert ACCOUNT_RE.match(account) and len(account) <= ACCOUNT_MAX
    assert validate_account(account) == account
    numbered = unique_account(name, lambda a: a == account)  # a clash adds a number
    assert numbered == f"{account}2" and ACCOUNT_RE.match(numbered)


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_text_gives_an_account(text):
    assert ACCOUNT_RE.match(pinyin_account(text))


@pytest.mark.parametrize("typed, reason", [
    ("", "请填写账号"),
    ("张三", "只能包含"),
    ("zhang san", "只能包含"),
    (".zhang", "只能包含"),
    ("zhang-", "只能包含"),
    ("a@b.cn", "只能包含"),
    ("a" * 65, "不能超过64个字符"),
])
def test_typed_accounts_refused_in_chinese(typed, reason):
    with pytest.raises(ValidationError) as exc:
        validate_account(typed)
    assert reason in exc.value.message


@pytest.mark.parametrize("typed, account", [
    ("ZhangSan", "zhangsan"), (" abudu ", "abudu"), ("13800138000", "13800138000"),
    ("li.si_2", "li.si_2"), ("x", "x"),
])
def test_typed_accounts_kept(typed, account):
    assert validate_account(typed) == account
