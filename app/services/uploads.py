"""The one upload service every form uses.

A file is accepted by what it is, not what it is called: its type is read from its
first bytes and checked against the allow-list of its kind; size is limited per kind;
images are re-encoded (EXIF and anything appended dropped, size bounded); PDFs are read
by a PDF parser and refused when they run scripts or actions or carry files; SVG, HTML,
polyglots and path tricks are refused with a Chinese message. Files are kept outside
static/ under random names.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject
from sqlalchemy.orm import Session

from app.models import StoredFile, utcnow
from app.services.validators import ValidationError

JPEG, PNG, PDF, MP4 = "image/jpeg", "image/png", "application/pdf", "video/mp4"
EXTENSIONS = {JPEG: (".jpg", ".jpeg"), PNG: (".png",), PDF: (".pdf",), MP4: (".mp4",)}
TYPE_NAMES = {JPEG: "JPG", PNG: "PNG", PDF: "PDF", MP4: "MP4"}
MB = 1024 * 1024
MAX_IMAGE_SIDE = 2400
# Markup or script anywhere in an image or PDF means a polyglot: a file that is also a page.
ACTIVE_MARKERS = (b"<script", b"<html", b"<svg", b"<?php", b"<!doctype", b"<iframe", b"<body",
                  b"javascript:", b"<?xml", b"<object", b"<embed")
# PDF names that run something, fetch or post something, or carry a file, compared after the
# parser has decoded #xx escapes (/J#61vaScript is /JavaScript to every reader).
PDF_ACTIVE_NAMES = frozenset({
    "/JavaScript", "/JS", "/Launch", "/EmbeddedFile", "/EmbeddedFiles", "/XFA", "/RichMedia",
    "/SubmitForm", "/ImportData"})
# A scan has tens of objects, a long report a few thousand; the cap bounds the parsing time of
# a small file made of hundreds of thousands of tiny objects.
PDF_MAX_OBJECTS = 30_000
PDF_ACTIVE_MESSAGE = "PDF 文件包含脚本、附件、表单或自动执行的动作，请重新导出为普通 PDF 后上传"
PDF_UNREADABLE_MESSAGE = "PDF 文件已损坏或无法读取，请重新导出或扫描后上传"
Image.MAX_IMAGE_PIXELS = 40_000_000  # decompression bombs fail instead of eating memory
log = logging.getLogger(__name__)


class UploadRejected(ValidationError):
    pass


class StorageFailed(UploadRejected):
    """The file was acceptable but could not be written (disk full, read-only, I/O error).
    An UploadRejected, so every form shows it beside the field and keeps what was typed."""


STORAGE_FULL_MESSAGE = "文件保存失败：服务器存储空间不足，请稍后再试或联系管理员"
STORAGE_FAILED_MESSAGE = "文件保存失败：服务器暂时无法保存文件，请稍后再试或联系管理员"


@dataclass(frozen=True)
class UploadKind:
    name: str
    label: str
    types: tuple[str, ...]
    max_bytes: int


IMAGE_ONLY = (JPEG, PNG)
DOCUMENT = (PDF, JPEG, PNG)
KINDS = {
    k.name: k for k in (
        UploadKind("photo", "一寸免冠照", IMAGE_ONLY, 2 * MB),
        UploadKind("id_front", "身份证人像面", IMAGE_ONLY, 2 * MB),
        UploadKind("id_back", "身份证国徽面", IMAGE_ONLY, 2 * MB),
        UploadKind("education_proof", "学历证明文件", DOCUMENT, 10 * MB),
        UploadKind("title_certificate", "职称证书文件", DOCUMENT, 10 * MB),
        UploadKind("qualification", "资质证书", DOCUMENT, 10 * MB),
        UploadKind("signed_form", "签字盖章的申请表", DOCUMENT, 10 * MB),
        UploadKind("attachment", "附件", DOCUMENT, 10 * MB),
        UploadKind("lesson", "课程资料", (MP4, PDF), 1024 * MB),
        UploadKind("avatar", "头像", IMAGE_ONLY, 2 * MB),
        UploadKind("transfer", "异动申请附件", DOCUMENT, 10 * MB),
        UploadKind("seal", "证书印章", (PNG,), 2 * MB),  # 系统设置, PNG only
        # made by the app itself (keep_generated), never uploaded
        UploadKind("certificate", "专家证书", (PDF, PNG), 10 * MB),
    )
}


def kind_limits(kind: UploadKind, image_max: int | None, pdf_max: int | None) -> int:
    """The configured limit for this kind (images and documents separately)."""
    if kind.types == IMAGE_ONLY and image_max:
        return image_max
    if kind.types == DOCUMENT and pdf_max:
        return pdf_max
    return kind.max_bytes


def sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"%PDF-"):
        return PDF
    if data[4:8] == b"ftyp":
        return MP4
    return None


def safe_name(filename: str | None) -> str:
    """The user's file name, Chinese kept, with any path, control or odd characters removed."""
    name = unicodedata.normalize("NFC", filename or "")
    name = re.split(r"[\\/]", name)[-1]  # C:\\fakepath\\x.pdf, ../../etc/passwd
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")  # controls, RTL marks
    name = re.sub(r'[<>:"|?*\x00]', "", name).strip(" .")
    stem, ext = os.path.splitext(name)
    return (stem[:80] or "文件") + ext[:10].lower()


def size_words(n: int) -> str:
    """Bytes as staff write them (2 MB, 500 KB): limits are set in either on 系统设置."""
    if n >= MB and n % MB == 0:
        return f"{n // MB} MB"
    if n >= MB:
        return f"{n / MB:.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


def _describe(types: tuple[str, ...]) -> str:
    return "/".join(TYPE_NAMES[t] for t in types)


def check(kind: UploadKind, filename: str | None, data: bytes, max_bytes: int) -> tuple[str, str]:
    """(content type, clean name) of an acceptable file, or UploadRejected with the reason."""
    if not data:
        raise UploadRejected("请选择要上传的文件（文件不能为空）")
    if len(data) > max_bytes:
        raise UploadRejected(f"文件过大：{kind.label}不能超过 {size_words(max_bytes)}")
    name = safe_name(filename)
    raw = filename or ""
    if "\x00" in raw or ".." in raw.replace("\\", "/").split("/") or raw != raw.strip():
        raise UploadRejected("文件名不合法，请重命名后再上传")
    content_type = sniff(data)
    if content_type not in kind.types:
        raise UploadRejected(f"文件类型不符：{kind.label}只能上传 {_describe(kind.types)} 文件")
    ext = os.path.splitext(name)[1]
    if ext not in EXTENSIONS[content_type]:
        raise UploadRejected(
            f"文件扩展名与内容不符：这是 {TYPE_NAMES[content_type]} 文件，文件名应以"
            f"{'或'.join(EXTENSIONS[content_type])}结尾")
    if content_type == MP4:
        return content_type, name  # compressed video: a byte scan for markup means nothing
    lowered = data.lower()
    if content_type == PDF:
        # Page images and fonts are compressed, random-looking bytes in which a short marker
        # such as "<svg" turns up by chance (in about 2 of 100 scans of 10 MB): markup is
        # looked for outside them. What the streams hold is for the parser (check_pdf).
        lowered = _outside_streams(lowered)
    if any(marker in lowered for marker in ACTIVE_MARKERS):
        raise UploadRejected("文件包含网页或脚本内容，不能上传")
    if content_type == PDF:
        if b"%%eof" not in lowered[-2048:]:
            raise UploadRejected("PDF 文件不完整或已损坏")
        check_pdf(data)
    return content_type, name


def _outside_streams(pdf_bytes: bytes) -> bytes:
    """The PDF without the data between its stream and endstream keywords."""
    parts, pos = [], 0
    while (start := pdf_bytes.find(b"stream", pos)) != -1:
        end = pdf_bytes.find(b"endstream", start + 6)
        if end == -1:
            break
        parts.append(pdf_bytes[pos:start])
        pos = end + len(b"endstream")
    parts.append(pdf_bytes[pos:])
    return b" ".join(parts)


def _pdf_objects(data: bytes) -> list:
    """Every object of the parsed file: those of the cross-reference table(s) and those
    packed in object streams, and the trailer."""
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        raise UploadRejected("PDF 文件已加密或设有密码，请取消加密后再上传")
    root = reader.trailer.get("/Root")
    if not isinstance(root.get_object() if root is not None else None, DictionaryObject):
        raise UploadRejected(PDF_UNREADABLE_MESSAGE)  # no document catalog: no reader opens it
    refs = [IndirectObject(num, gen, reader) for gen, table in reader.xref.items() for num in table]
    refs += [IndirectObject(num, 0, reader) for num in reader.xref_objStm]
    if len(refs) > PDF_MAX_OBJECTS:
        raise UploadRejected("PDF 文件结构过于复杂，请重新导出或扫描后上传")
    return [reader.trailer, *(ref.get_object() for ref in refs)]


def _active_content(obj) -> bool:
    """Whether this object, with the dictionaries and arrays written inside it (not those it
    refers to: every object is walked on its own), holds an active name or action."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, NameObject):
            if item in PDF_ACTIVE_NAMES:
                return True
        elif isinstance(item, DictionaryObject):  # streams too: their dictionary
            for key, value in item.items():
                if key in PDF_ACTIVE_NAMES or key == "/AA":
                    return True
                # /OpenAction may open at a page (an array) but not run an action (a dictionary)
                if key == "/OpenAction" and isinstance(
                        value.get_object() if isinstance(value, IndirectObject) else value,
                        DictionaryObject):
                    return True
                stack.append(value)
        elif isinstance(item, ArrayObject):
            stack.extend(item)
    return False


def check_pdf(data: bytes) -> None:
    """UploadRejected unless the parser reads the whole file and finds no script, action,
    attached file, XFA form or media in any object."""
    try:
        active = any(_active_content(obj) for obj in _pdf_objects(data))
    except UploadRejected:
        raise
    except Exception:  # a parser of hostile input fails in many ways; each means "unreadable"
        raise UploadRejected(PDF_UNREADABLE_MESSAGE) from None
    if active:
        raise UploadRejected(PDF_ACTIVE_MESSAGE)


def reencode_image(data: bytes, content_type: str) -> bytes:
    """Decode and encode again: drops EXIF and anything hidden after the image data."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.width * image.height > Image.MAX_IMAGE_PIXELS:
                raise UploadRejected("图片尺寸过大")
            image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
            out = io.BytesIO()
            if content_type == JPEG:
                image.convert("RGB").save(out, "JPEG", quality=88, optimize=True)
            else:
                keep = "RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB"
                image.convert(keep).save(out, "PNG", optimize=True)
            return out.getvalue()
    except UploadRejected:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise UploadRejected("图片文件已损坏或无法识别，请重新拍照或扫描后上传") from None


def stored_path(upload_dir: str | Path, stored_name: str) -> Path:
    return Path(upload_dir) / stored_name[:2] / stored_name


def write_file(upload_dir: str | Path, data: bytes, content_type: str) -> tuple[str, int, str]:
    """Writes ``data`` under a random name; (stored name, size, sha256). Needs no database,
    so a worker process of a batch can call it."""
    stored_name = secrets.token_hex(16) + EXTENSIONS[content_type][0]
    path = stored_path(upload_dir, stored_name)
    tmp = path.with_suffix(".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as fh:
            fh.write(data)
        os.replace(tmp, path)  # never a half-written file under its real name
    except OSError as exc:
        with contextlib.suppress(OSError):  # a full disk still lets a file be removed
            tmp.unlink(missing_ok=True)
        log.error("upload %s not stored in %s: %s", stored_name, upload_dir, exc)
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise StorageFailed(STORAGE_FULL_MESSAGE if full else STORAGE_FAILED_MESSAGE) from exc
    return stored_name, len(data), hashlib.sha256(data).hexdigest()


def file_row(*, owner_id: int | None, kind_name: str, name: str, content_type: str,
             written: tuple[str, int, str]) -> StoredFile:
    stored_name, size, sha = written
    return StoredFile(owner_id=owner_id, kind=kind_name, original_name=name,
                      stored_name=stored_name, size=size, sha256=sha, content_type=content_type,
                      created_on=utcnow())


def store(session: Session, *, owner_id: int | None, kind_name: str, filename: str | None,
          data: bytes, upload_dir: str | Path, image_max: int | None = None,
          pdf_max: int | None = None) -> StoredFile:
    kind = KINDS[kind_name]
    content_type, name = check(kind, filename, data, kind_limits(kind, image_max, pdf_max))
    if content_type in IMAGE_ONLY:
        data = reencode_image(data, content_type)
    row = file_row(owner_id=owner_id, kind_name=kind.name, name=name, content_type=content_type,
                   written=write_file(upload_dir, data, content_type))
    session.add(row)
    session.flush()
    return row


def keep_generated(session: Session, *, owner_id: int | None, kind_name: str, filename: str,
                   data: bytes, content_type: str, upload_dir: str | Path) -> StoredFile:
    """A file the app made itself (a certificate): kept like an upload, under a random name
    outside static/, served only through an ownership check. Not sniffed or re-encoded: it
    is our own output, and re-encoding would cost more than making it."""
    kind = KINDS[kind_name]
    if content_type not in kind.types:
        raise ValueError(f"{content_type} is not a {kind_name}")
    row = file_row(owner_id=owner_id, kind_name=kind.name, name=safe_name(filename),
                   content_type=content_type, written=write_file(upload_dir, data, content_type))
    session.add(row)
    session.flush()
    return row
