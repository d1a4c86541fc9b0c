"""What every PDF the app renders with WeasyPrint shares: a fetcher that loads nothing from
outside the server, and QR codes as data: URIs. Used by 下载申请表 and 专家证书."""
from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from pathlib import Path

import qrcode
from weasyprint.urls import URLFetcher


class _ListedFilesFetcher(URLFetcher):
    """data: URIs, plus exactly the local files listed (the certificate's cut fonts)."""

    def __init__(self, files: Iterable[str | Path], **kwargs):
        super().__init__(allowed_protocols={"data", "file"}, **kwargs)
        self._files = {Path(f).resolve().as_uri() for f in files}

    def fetch(self, url, headers=None):
        if url.lower().startswith("file:") and url not in self._files:
            raise ValueError(f"URI not allowed: {url}")
        return super().fetch(url, headers)


def data_only_fetcher(files: Iterable[str | Path] = ()) -> URLFetcher:
    """Everything is embedded as data: URIs; file://, http:// and the rest are refused, except
    the local ``files`` named here (fonts shipped with the app)."""
    files = list(files)
    if files:
        return _ListedFilesFetcher(files, timeout=2)
    return URLFetcher(allowed_protocols={"data"}, timeout=2)


def qr_data_uri(text: str, box_size: int = 6) -> str:
    """A QR code as a PNG data: URI (for PDFs, and for pages: nothing is fetched)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=2)
    qr.add_data(text)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image(fill_color="black", back_color="white").save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()
