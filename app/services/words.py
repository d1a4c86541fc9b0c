"""What staff read for stored codes: payment methods, file kinds and MIME types in words,
fees in 元. One table each, shared by the lists, show pages and exports; the views translate
the Chinese words at render time (translations/en has their English)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from app.services.uploads import JPEG, KINDS, MP4, PDF, PNG

# PaymentOrder.provider: who or what confirmed the payment (app/services/payment.py)
PAYMENT_METHODS: dict[str, str] = {
    "local": "本地测试支付",
    "wechat": "微信支付",
    "alipay": "支付宝",
    "statement": "银行对账确认",
    "manual": "人工确认",
}

# StoredFile.content_type: the types the upload service accepts (and a few it may meet)
MIME_TYPES: dict[str, str] = {
    PDF: "PDF 文档",
    JPEG: "JPEG 图片",
    PNG: "PNG 图片",
    MP4: "MP4 视频",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel 表格",
}


def payment_method(code: str | None) -> str:
    return PAYMENT_METHODS.get(code or "", code or "")


def mime_type(value: str | None) -> str:
    return MIME_TYPES.get(value or "", value or "")


def file_kind(name: str | None) -> str:
    kind = KINDS.get(name or "")
    return kind.label if kind else (name or "")


def file_kinds() -> list[tuple[str, str]]:
    return [(k.name, k.label) for k in KINDS.values()]


def yuan(fen: int | None) -> str:
    """分 as 元 with two decimals: 12000 → 120.00."""
    if fen is None:
        return ""
    return f"{Decimal(int(fen)) / 100:.2f}"


def fen_from_yuan(text: str | None) -> int:
    """元 as typed (300, 300.5, 300.50) → 分; ValueError for anything else or a third decimal."""
    try:
        value = Decimal(str(text or "").strip().replace(",", "").replace("，", ""))
    except InvalidOperation:
        raise ValueError("请输入金额（元），如 300 或 300.00") from None
    if not value.is_finite() or value < 0:
        raise ValueError("请输入金额（元），如 300 或 300.00")
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError("金额最多两位小数")
    return int(fen.quantize(Decimal(1), rounding=ROUND_HALF_UP))
