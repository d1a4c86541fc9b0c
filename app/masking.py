"""Masked forms of personal data for lists and exports."""
from __future__ import annotations


def _mask(value: str | None, keep_start: int, keep_end: int) -> str:
    if not value:
        return ""
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def mask_id_number(value: str | None) -> str:
    """650***********123X."""
    return _mask(value, 3, 4)


def mask_phone(value: str | None) -> str:
    """138****1234."""
    return _mask(value, 3, 4)


def mask_bank_account(value: str | None) -> str:
    """622202******1234."""
    return _mask((value or "").replace(" ", ""), 6, 4)


def mask_name(value: str | None) -> str:
    """张* / 张*国 / 买***力: the first and (from three characters) the last kept."""
    if not value:
        return ""
    if len(value) <= 2:
        return value[0] + "*" * (len(value) - 1)
    return value[0] + "*" * (len(value) - 2) + value[-1]
