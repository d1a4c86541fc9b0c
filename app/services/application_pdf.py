"""下载申请表: the application form as an A4 PDF (WeasyPrint, CJK font embedded) with the
photo, the 申请专家编号, a QR code that opens the application for staff, and boxes for
the signature and the unit's stamp."""
from __future__ import annotations

import base64

from flask import current_app, render_template
from weasyprint import HTML

from app.models import Expert, StoredFile
from app.services.pdf import data_only_fetcher, qr_data_uri  # noqa: F401 (shared, re-exported)
from app.services.uploads import stored_path


def file_data_uri(stored: StoredFile | None) -> str | None:
    if stored is None or not stored.content_type.startswith("image/"):
        return None
    path = stored_path(current_app.config["UPLOAD_FOLDER"], stored.stored_name)
    if not path.is_file():
        return None
    return f"data:{stored.content_type};base64," + base64.b64encode(path.read_bytes()).decode()


def render_application_pdf(expert: Expert, review_url: str) -> bytes:
    html = render_template(
        "application/form_pdf.html", expert=expert, qr=qr_data_uri(review_url),
        photo=file_data_uri(expert.photo_file), review_url=review_url, title="评标专家入库申请表",
    )
    return HTML(string=html, url_fetcher=data_only_fetcher()).write_pdf()


def render_personal_info_pdf(expert: Expert, generated_at: str) -> bytes:
    """【下载】个人信息表: the profile as it stands, with 专家编号 and 学习培训情况."""
    html = render_template(
        "application/form_pdf.html", expert=expert, qr=None, info=True,
        photo=file_data_uri(expert.photo_file), title="评标专家个人信息表",
        generated_at=generated_at,
    )
    return HTML(string=html, url_fetcher=data_only_fetcher()).write_pdf()
