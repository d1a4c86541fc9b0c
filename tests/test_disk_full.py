"""Item 13 (issue 11): uploads on a full file system. The form keeps what was typed, says in
Chinese that the file could not be stored, leaves no partial file and no row without a file,
and never says it saved.

ENOSPC is simulated at the file object: for files opened for writing under the upload
folder, ``write`` stores half the bytes (as a disk does when it fills up) and then raises
OSError(ENOSPC)."""
import errno
import io
import pathlib
import re

import pytest

from app.services import uploads
from app.services.uploads import UploadRejected
from tests.conftest import login_expert, login_staff, page_text
from tests.test_application import post, step1_data
from tests.test_certificate import passed  # noqa: F401 — the fixture is used below
from tests.test_changes import errors_of, make_admitted, pass_training
from tests.test_uploads import pdf, png

FULL = "文件保存失败：服务器存储空间不足，请稍后再试或联系管理员"


class _FillingFile:
    """A real file object whose writes fill the disk after ``room`` more bytes."""

    def __init__(self, real, disk):
        self._real, self._disk = real, disk

    def write(self, data):
        room = self._disk.room
        if room is not None and len(data) > room:
            self._real.write(bytes(data[:room]))
            self._disk.room = 0
            self._disk.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        if room is not None:
            self._disk.room -= len(data)
        return self._real.write(data)

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()
        return False


class FullDisk:
    def __init__(self, root: pathlib.Path, room: int | None, files_ok: int):
        self.root, self.room, self.refused, self.files_ok = root, room, 0, files_ok


@pytest.fixture
def full_disk(app, monkeypatch):
    """Turns the upload folder's file system full: ``full_disk(room=n)`` lets n more bytes in,
    ``files_ok=k`` first lets k whole files in."""
    real_open = pathlib.Path.open
    root = pathlib.Path(app.config["UPLOAD_FOLDER"]).resolve()

    def fill(room: int = 0, files_ok: int = 0) -> FullDisk:
        disk = FullDisk(root, room, files_ok)

        def open_(self, mode="r", *args, **kwargs):
            fh = real_open(self, mode, *args, **kwargs)
            if any(m in mode for m in "wax") and root in pathlib.Path(self).resolve().parents:
                if disk.files_ok:
                    disk.files_ok -= 1
                    return fh
                return _FillingFile(fh, disk)
            return fh

        monkeypatch.setattr(pathlib.Path, "open", open_)
        return disk

    return fill


def _files_on_disk(app) -> set[pathlib.Path]:
    return set(pathlib.Path(app.config["UPLOAD_FOLDER"]).rglob("*.*"))


def _rows_of(app, owner_id) -> list[tuple[int, str]]:
    from app.extensions import db
    from app.models import StoredFile

    with app.app_context():
        rows = [(f.id, f.stored_name) for f in db.session.query(StoredFile).filter_by(owner_id=owner_id)]
        db.session.remove()
    return rows


def _assert_every_row_has_its_file(app) -> None:
    from app.extensions import db
    from app.models import StoredFile

    with app.app_context():
        missing = [f.stored_name for f in db.session.query(StoredFile)
                   if not uploads.stored_path(app.config["UPLOAD_FOLDER"], f.stored_name).is_file()]
        db.session.remove()
    assert missing == []


def _assert_no_partial_file(app) -> None:
    assert list(pathlib.Path(app.config["UPLOAD_FOLDER"]).rglob("*.part")) == []


# ---------------------------------------------------------------- the service


@pytest.mark.parametrize("room", [0, 100], ids=["nothing written", "half written"])
def test_item13_store_on_full_disk_raises_in_chinese_and_leaves_nothing(app, full_disk, room):
    from app.extensions import db
    from app.models import StoredFile

    before = _files_on_disk(app)
    disk = full_disk(room)
    with app.app_context():
        with pytest.raises(uploads.StorageFailed) as exc:
            uploads.store(db.session, owner_id=None, kind_name="signed_form", filename="申请表.pdf",
                          data=pdf(b"3 0 obj (" + b"x" * 400 + b") endobj"),
                          upload_dir=app.config["UPLOAD_FOLDER"])
        assert not [o for o in db.session.new if isinstance(o, StoredFile)]
        db.session.rollback()
        db.session.remove()
    assert disk.refused == 1
    assert isinstance(exc.value, UploadRejected) and exc.value.message == FULL
    assert _files_on_disk(app) == before
    _assert_no_partial_file(app)


def test_item13_other_storage_errors_are_refused_too(app, monkeypatch, tmp_path):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(uploads.os, "replace", read_only)
    with pytest.raises(uploads.StorageFailed) as exc:
        uploads.write_file(tmp_path, b"%PDF-1.4 x", uploads.PDF)
    assert exc.value.message.startswith("文件保存失败") and "Errno" not in exc.value.message
    assert not any(tmp_path.rglob("*.*"))


# ---------------------------------------------------------------- the screens


def test_item13_wizard_save_with_photo_on_full_disk_keeps_the_typed_draft(app, make_expert,
                                                                         full_disk):
    account = make_expert("满盘暂存")
    client = app.test_client()
    login_expert(client, account)
    before = _files_on_disk(app)
    full_disk(0)
    data = step1_data(app, account, action="save", b_address="满盘时填写的地址")
    resp = post(client, 1, {k: v for k, v in data.items()
                            if not k.endswith("__upload") or k == "b_photo_file__upload"})
    assert resp.status_code == 200
    html = resp.get_data(True)
    assert errors_of(resp).get("b_photo_file") == FULL
    assert "alert-success" not in html and "暂存成功" not in html
    assert 'value="满盘时填写的地址"' in html
    assert _files_on_disk(app) == before and _rows_of(app, account.user_id) == []
    _assert_no_partial_file(app)
    # the disk has room again: the draft was kept, without a file that was never stored
    later = app.test_client()
    login_expert(later, account)
    html = later.get("/application/step/1").get_data(True)
    assert 'value="满盘时填写的地址"' in html and "已上传，点击查看" not in html
    _assert_every_row_has_its_file(app)


def test_item13_wizard_step3_signed_form_on_full_disk(app, make_expert, full_disk):
    account = make_expert("满盘签字表")
    client = app.test_client()
    login_expert(client, account)
    full_disk(0)
    resp = post(client, 3, {"action": "save",
                            "signed_form__upload": (io.BytesIO(pdf()), "申请表（已签字盖章）.pdf")})
    assert resp.status_code == 200
    assert errors_of(resp).get("signed_form") == FULL
    assert "alert-success" not in resp.get_data(True)
    assert _rows_of(app, account.user_id) == []
    _assert_no_partial_file(app)


def test_item13_transfer_attachment_on_full_disk_keeps_the_reason(app, make_expert, full_disk):
    from app.extensions import db
    from app.models import TransferRequest
    from tests.test_application import ref

    admitted = make_admitted(app, make_expert, "满盘异动")
    pass_training(app, admitted.expert_id)
    rows_before = _rows_of(app, admitted.user_id)
    full_disk(0)
    resp = admitted.client.post("/my/transfer", data={
        "to_prefecture": ref(app, "Prefecture", "喀什地区"), "reason": "满盘时填写的异动原因",
        "attachment__upload": (io.BytesIO(pdf()), "调动证明.pdf")},
        content_type="multipart/form-data")
    assert resp.status_code == 200
    assert errors_of(resp).get("attachment") == FULL
    text = page_text(resp)
    assert "满盘时填写的异动原因" in resp.get_data(True) and "异动申请已提交" not in text
    assert not re.search(r'name="attachment_id" value="\d+"', resp.get_data(True))
    with app.app_context():
        assert db.session.query(TransferRequest).filter_by(expert_id=admitted.expert_id).count() == 0
        db.session.remove()
    assert _rows_of(app, admitted.user_id) == rows_before
    _assert_no_partial_file(app)
    _assert_every_row_has_its_file(app)


def test_item13_avatar_on_full_disk_is_not_saved(app, make_expert, full_disk):
    account = make_expert("满盘头像")
    client = app.test_client()
    login_expert(client, account)
    full_disk(0)
    resp = client.post("/account/", data={"phone": account.phone, "email": "manpan@163.com",
                                          "avatar": (io.BytesIO(png()), "头像.png")},
                       content_type="multipart/form-data")
    assert resp.status_code == 200
    text = page_text(resp)
    assert FULL in text and "已保存" not in text
    assert 'value="manpan@163.com"' in resp.get_data(True)
    assert _rows_of(app, account.user_id) == []
    _assert_no_partial_file(app)


def test_item13_staff_attachment_on_full_disk_keeps_the_title(app, make_expert, full_disk):
    from app.extensions import db
    from app.models import Attachment

    owner = make_expert("满盘附件")
    staff = app.test_client()
    login_staff(staff)
    full_disk(0)
    resp = staff.post("/attachmentadminview/add", data={
        "expert": str(owner.expert_id), "title": "满盘时的附件标题",
        "upload": (io.BytesIO(pdf()), "资格证书.pdf")}, content_type="multipart/form-data")
    assert resp.status_code == 200
    assert FULL in page_text(resp) and "满盘时的附件标题" in resp.get_data(True)
    with app.app_context():
        assert db.session.query(Attachment).filter_by(expert_id=owner.expert_id).count() == 0
        db.session.remove()
    _assert_no_partial_file(app)
    _assert_every_row_has_its_file(app)


def test_item13_certificate_on_full_disk_leaves_no_file_and_no_row(app, passed, full_disk):  # noqa: F811
    """Not an upload, but kept the same way: its PDF is written, then its PNG fails."""
    from app.extensions import db
    from app.models import Certificate

    account = passed("满盘证书")
    client = app.test_client()
    login_expert(client, account)
    before = _files_on_disk(app)
    disk = full_disk(0, files_ok=1)
    page = client.get("/certificates/")
    assert page.status_code == 200 and disk.refused == 1
    assert "证书生成失败" in page_text(page)
    with app.app_context():
        assert db.session.query(Certificate).filter_by(expert_id=account.expert_id).count() == 0
        db.session.remove()
    assert _files_on_disk(app) == before  # the PDF written first is gone too
    _assert_no_partial_file(app)
    _assert_every_row_has_its_file(app)
