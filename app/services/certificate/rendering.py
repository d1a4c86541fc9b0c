"""Drawing a certificate: the PDF (WeasyPrint) and the PNG drawn from it (pdfium)."""
from __future__ import annotations

import base64
import datetime as dt
import io
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pypdfium2 as pdfium
from PIL import Image
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from app.models import (
    Certificate,
)
from app.services.certificate.common import (
    CROCKFORD,
    FONTS,
    PNG_DPI,
    ROOT,
    VERIFY_PATH,
)
from app.services.pdf import data_only_fetcher, qr_data_uri


def new_number(today: dt.date) -> str:
    chars = "".join(secrets.choice(CROCKFORD) for _ in range(16))
    return f"JX{today:%Y}-" + "-".join(chars[i:i + 4] for i in range(0, 16, 4))


def verify_url(base_url: str, number: str) -> str:
    return base_url.rstrip("/") + VERIFY_PATH + number


@dataclass(frozen=True)
class RenderSettings:
    """What every certificate shares: plain data, so a worker process can be handed it."""

    issuer: str
    seal_image: str | None
    base_url: str  # where the QR code's verification page lives


def settings_from(cfg: Any, base_url: str | None = None) -> RenderSettings:
    """Issuer, seal and the QR code's address from the configuration; ``base_url`` given
    explicitly (the CLI's --base-url) wins, then PUBLIC_BASE_URL, then the local server."""
    base = base_url or cfg.get("PUBLIC_BASE_URL") or "http://127.0.0.1:8080"
    return RenderSettings(issuer=cfg["CERTIFICATE_ISSUER"], seal_image=cfg["CERTIFICATE_SEAL_IMAGE"],
                          base_url=base)


@dataclass(frozen=True)
class CertificateText:
    number: str
    holder_name: str
    expert_no: str
    id_number_masked: str
    round_name: str
    hours: int
    issued_on: dt.date

    @classmethod
    def of(cls, cert: Certificate) -> CertificateText:
        return cls(cert.number, cert.holder_name, cert.expert_no, cert.id_number_masked,
                   cert.round_name, cert.hours, cert.issued_on)


_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(ROOT / "app" / "templates" / "certificate")),
    autoescape=True, auto_reload=False)
_SEALS: dict[tuple[str, float], str] = {}
SEAL_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
              ".svg": "image/svg+xml"}


def seal_data_uri(path: str | None) -> str | None:
    """The seal as a data: URI, read once per file version."""
    if not path:
        return None
    p = Path(path)
    if not p.is_file() or p.suffix.lower() not in SEAL_TYPES:
        return None
    key = (str(p), p.stat().st_mtime)
    if key not in _SEALS:
        _SEALS[key] = (f"data:{SEAL_TYPES[p.suffix.lower()]};base64,"
                       + base64.b64encode(p.read_bytes()).decode())
    return _SEALS[key]


class _Renderer:
    """What one thread reuses between certificates: the stylesheet parsed once with its font
    configuration (about a third of a rendering when done each time), and the PNG palette of
    each seal. WeasyPrint's font configuration is not shared between threads."""

    def __init__(self):
        self.fetcher = data_only_fetcher(FONTS.values())
        self.font_config = FontConfiguration()
        fonts = {k: p.resolve().as_uri() for k, p in FONTS.items() if p.is_file()}
        self.css = CSS(string=_TEMPLATES.get_template("certificate.css").render(fonts=fonts),
                       font_config=self.font_config, url_fetcher=self.fetcher)
        self.palettes: dict[tuple, Any] = {}


_THREAD = threading.local()


def _renderer() -> _Renderer:
    if getattr(_THREAD, "renderer", None) is None:
        _THREAD.renderer = _Renderer()
    return _THREAD.renderer


def render_pdf(text: CertificateText, settings: RenderSettings) -> bytes:
    """The certificate as a one-page A4 landscape PDF (vector; CJK fonts embedded)."""
    r = _renderer()
    html = _TEMPLATES.get_template("certificate_pdf.html").render(
        c=text, issuer=settings.issuer, seal=seal_data_uri(settings.seal_image),
        qr=qr_data_uri(verify_url(settings.base_url, text.number)))
    return HTML(string=html, url_fetcher=r.fetcher).write_pdf(
        stylesheets=[r.css], font_config=r.font_config)


def pdf_to_png(pdf: bytes, dpi: int = PNG_DPI, palette_key: Any = None) -> bytes:
    """The PDF's first page as a PNG: one design, drawn by pdfium from the same PDF.

    Saved with a 256-colour palette (a third of the size, and a palette PNG skips the
    per-row filter search that takes most of an RGB PNG's time). Every certificate under
    the same settings has the same colours (only the words differ), so with ``palette_key``
    the palette is chosen from the first one and reused (exact colours, no dithering)."""
    doc = pdfium.PdfDocument(pdf)
    try:
        image = doc[0].render(scale=dpi / 72).to_pil()
    finally:
        doc.close()
    palettes = _renderer().palettes
    palette = palettes.get(palette_key) if palette_key is not None else None
    if palette is None:
        image = image.quantize(256, method=Image.Quantize.FASTOCTREE)
        if palette_key is not None:
            palettes[palette_key] = image
    else:
        image = image.quantize(palette=palette, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def render(text: CertificateText, settings: RenderSettings) -> tuple[bytes, bytes]:
    """(PDF, PNG): the only place a certificate is drawn."""
    pdf = render_pdf(text, settings)
    return pdf, pdf_to_png(pdf, palette_key=("seal", seal_data_uri(settings.seal_image)))


def file_names(text: CertificateText) -> tuple[str, str]:
    stem = f"继续教育合格证书-{text.holder_name}-{text.number}"
    return stem + ".pdf", stem + ".png"
