"""The upload service: type by content, size per kind, re-encoding, hostile files refused;
files served only to their owner (and staff), as attachments, keeping the Chinese name."""
import io
import re
import zlib

import pytest
from PIL import Image

from app.services import uploads
from app.services.uploads import UploadRejected
from tests.conftest import login_expert, login_staff, page_text


def png(size=(40, 30), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG", **save)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (64, 48), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x8825] = {2: (43.0, 48.0, 0.0)}  # GPS latitude: where the photo was taken
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def assemble(*chunks: bytes, root: int = 1, trailer: bytes = b"") -> bytes:
    """A PDF of hand-written ``N 0 obj ... endobj`` chunks with a correct cross-reference
    table: uploads are read by a PDF parser, which needs one to find the objects."""
    out = b"%PDF-1.4\n" + b"\n".join(chunks) + b"\n"
    offsets = {int(m[1]): m.start() for m in re.finditer(rb"(?m)^(\d+) 0 obj\b", out)}
    size = max(offsets) + 1
    rows = b"".join(b"%010d 00000 n \n" % offsets[n] if n in offsets else b"0000000000 00000 f \n"
                    for n in range(1, size))
    return (out + b"xref\n0 %d\n0000000000 65535 f \n" % size + rows
            + b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n"
            % (size, root, trailer, len(out)))


def pdf(body: bytes = b"") -> bytes:
    return assemble(b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj", body,
                    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj")


def check(kind, name, data, limit=None):
    k = uploads.KINDS[kind]
    return uploads.check(k, name, data, limit or k.max_bytes)


GOOD = [
    ("photo", "一寸照.png", png()),
    ("photo", "证件照.JPG", jpeg_with_exif()),
    ("signed_form", "申请表（签字盖章）.pdf", pdf()),
    ("education_proof", "毕业证.jpeg", jpeg_with_exif()),
]

HOSTILE = [
    ("svg", "photo", "头像.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ("svg named png", "photo", "头像.png", b"<svg onload=alert(1)></svg>"),
    ("html", "attachment", "附件.html", b"<html><script>alert(1)</script></html>"),
    ("html named pdf", "attachment", "附件.pdf", b"<!DOCTYPE html><p>hi</p>"),
    ("png+html polyglot", "photo", "照片.png", png() + b"<html><script>alert(1)</script></html>"),
    ("jpeg+script polyglot", "photo", "照片.jpg", jpeg_with_exif() + b"<script>x</script>"),
    ("pdf with javascript", "signed_form", "申请表.pdf",
     pdf(b"3 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj")),
    ("pdf with launch", "signed_form", "申请表.pdf", pdf(b"3 0 obj << /S /Launch /F (cmd.exe) >> endobj")),
    ("pdf with embedded file", "attachment", "附件.pdf", pdf(b"3 0 obj << /Type /EmbeddedFile >> endobj")),
    ("truncated pdf", "signed_form", "申请表.pdf", b"%PDF-1.4\n1 0 obj << >> endobj\n"),
    ("pdf for a photo", "photo", "照片.pdf", pdf()),
    ("exe", "attachment", "附件.exe", b"MZ\x90\x00" + b"\x00" * 200),
    ("exe named pdf", "attachment", "附件.pdf", b"MZ\x90\x00" + b"\x00" * 200),
    ("zip", "attachment", "附件.zip", b"PK\x03\x04" + b"\x00" * 100),
    ("gif", "photo", "照片.gif", b"GIF89a" + b"\x00" * 100),
    ("empty", "photo", "照片.png", b""),
    ("too big image", "photo", "照片.png", png() + b"\x00" * (2 * 1024 * 1024)),
    ("too big pdf", "signed_form", "申请表.pdf", pdf(b"\x00" * (10 * 1024 * 1024))),
    ("png named jpg", "photo", "照片.jpg", png()),
    ("png named php", "photo", "照片.php", png()),
    ("double extension", "photo", "照片.png.html", png()),
    ("path traversal", "photo", "../../etc/passwd.png", png()),
    ("windows path traversal", "photo", "..\\..\\boot.png", png()),
    ("nul byte in name", "photo", "照片.php\x00.png", png()),
    ("corrupt png", "photo", "照片.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 20),
    ("text file", "attachment", "说明.txt", "这是一段文字".encode()),
    ("xml", "attachment", "附件.xml", b'<?xml version="1.0"?><a/>'),
]


@pytest.mark.parametrize("kind, name, data", GOOD)
def test_good_files_pass(kind, name, data):
    content_type, clean = check(kind, name, data)
    assert content_type in uploads.EXTENSIONS and clean == name.replace(".JPG", ".jpg")


@pytest.mark.parametrize("label, kind, name, data", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_with_a_chinese_message(label, kind, name, data, app, tmp_path):
    from app.extensions import db

    with app.app_context():
        with pytest.raises(UploadRejected) as exc:
            uploads.store(db.session, owner_id=None, kind_name=kind, filename=name, data=data,
                          upload_dir=tmp_path)
        db.session.rollback()
        db.session.remove()
    assert any("\u4e00" <= c <= "\u9fff" for c in exc.value.message)
    assert not any(tmp_path.rglob("*.*"))  # nothing written


def test_at_least_twenty_hostile_kinds():
    assert len(HOSTILE) >= 20


def test_images_are_reencoded_without_exif(app, tmp_path):
    from app.extensions import db

    original = jpeg_with_exif()
    assert Image.open(io.BytesIO(original)).getexif()
    with app.app_context():
        row = uploads.store(db.session, owner_id=None, kind_name="photo", filename="证件照.jpg",
                            data=original, upload_dir=tmp_path)
        path = uploads.stored_path(tmp_path, row.stored_name)
        assert row.original_name == "证件照.jpg" and row.content_type == "image/jpeg"
        assert row.stored_name != row.original_name and ".." not in row.stored_name
        db.session.rollback()
        db.session.remove()
    kept = path.read_bytes()
    assert not Image.open(io.BytesIO(kept)).getexif()
    assert kept != original


def test_large_images_are_bounded(app, tmp_path):
    from app.extensions import db

    with app.app_context():
        row = uploads.store(db.session, owner_id=None, kind_name="photo", filename="大图.png",
                            data=png((5000, 1000), compress_level=9), upload_dir=tmp_path)
        image = Image.open(uploads.stored_path(tmp_path, row.stored_name))
        assert max(image.size) <= uploads.MAX_IMAGE_SIDE
        db.session.rollback()
        db.session.remove()


def test_decompression_bomb_is_refused(app, tmp_path):
    # a tiny file that claims 20000 x 20000 pixels
    raw = b"\x00" + b"\x00" * 3 * 20000
    idat = zlib.compress(raw * 50, 9)
    header = png()[:16]
    import struct

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    bomb = header[:8] + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    from app.extensions import db

    with app.app_context():
        with pytest.raises(UploadRejected):
            uploads.store(db.session, owner_id=None, kind_name="photo", filename="炸弹.png",
                          data=bomb, upload_dir=tmp_path)
        db.session.remove()


def test_safe_name_keeps_chinese():
    assert uploads.safe_name("C:\\fakepath\\学历证明（本科）.PDF") == "学历证明（本科）.pdf"
    assert uploads.safe_name("a\u202egnp.exe") == "agnp.exe"  # the right-to-left override is dropped
    assert uploads.safe_name("") == "文件"


# ---------------------------------------------------------------- through the screens

def _upload_attachment(client, expert_id, name, data):
    return client.post("/attachmentadminview/add", data={
        "expert": str(expert_id), "title": "测试附件", "upload": (io.BytesIO(data), name)},
        content_type="multipart/form-data")


def test_staff_upload_and_owner_download_keep_the_chinese_name(app, make_expert):
    owner = make_expert("附件主人")
    other = make_expert("旁人")
    staff = app.test_client()
    login_staff(staff)
    resp = _upload_attachment(staff, owner.expert_id, "资格证书（扫描件）.pdf", pdf())
    assert resp.status_code == 302, page_text(resp)
    from app.extensions import db
    from app.models import Attachment
    with app.app_context():
        file_id = db.session.query(Attachment).filter_by(expert_id=owner.expert_id).one().file_id
        db.session.remove()

    client = app.test_client()
    login_expert(client, owner)
    assert f"/files/{file_id}" in client.get("/expert/").get_data(True)
    resp = client.get(f"/files/{file_id}")
    assert resp.status_code == 200 and resp.data.startswith(b"%PDF-")
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert "filename*=UTF-8''" in disposition and "%E8%B5%84%E6%A0%BC" in disposition  # 资格
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"

    stranger = app.test_client()
    login_expert(stranger, other)
    assert stranger.get(f"/files/{file_id}").status_code == 404
    assert staff.get(f"/files/{file_id}").status_code == 200
    assert app.test_client().get(f"/files/{file_id}").status_code in (302, 401)


def test_hostile_upload_through_the_form_is_refused_beside_the_field(app, make_expert):
    owner = make_expert("坏附件")
    staff = app.test_client()
    login_staff(staff)
    resp = _upload_attachment(staff, owner.expert_id, "附件.pdf", b"<html><script>x</script>")
    assert resp.status_code == 200
    text = page_text(resp)
    assert "文件类型不符" in text
    assert "测试附件" in resp.get_data(True)  # the title typed is still there
