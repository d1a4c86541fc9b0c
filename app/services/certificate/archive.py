"""下载证书包: a round's kept PDFs and a list, streamed as one zip."""
from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Certificate,
    StoredFile,
    TrainingRound,
)
from app.services import uploads
from app.services.certificate.common import (
    VALID,
)


class _Pipe(io.RawIOBase):
    """A write-only, non-seekable stream whose bytes are taken out as they come."""

    def __init__(self):
        super().__init__()
        self.chunks: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def zip_round(session: Session, rnd: TrainingRound, upload_dir: str | Path,
              block: int = 1024 * 1024):
    """下载证书包: the round's valid certificates (the kept PDFs) and a list (清单.csv), streamed
    as one zip while it is written; nothing is rendered again. Yields bytes."""


    rows = session.execute(
        select(Certificate.number, Certificate.holder_name, Certificate.expert_no,
               Certificate.id_number_masked, Certificate.hours, Certificate.issued_on,
               StoredFile.stored_name)
        .join(StoredFile, StoredFile.id == Certificate.pdf_file_id)
        .where(Certificate.round_id == rnd.id, Certificate.status == VALID)
        .order_by(Certificate.expert_no)).all()
    round_name = rnd.name
    return _zip_rows(rows, round_name, upload_dir, block)


def _zip_rows(rows, round_name: str, upload_dir, block: int):
    """The zip of ``zip_round``, written while it is sent (the rows were read before the
    answer started: the request's commit may expire what the session holds)."""
    import zipfile

    from app.services.export import csv_writer

    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as zf:
        listing = io.StringIO()
        writer = csv_writer(listing)  # names typed by people: never a formula
        writer.writerow(["证书编号", "姓名", "专家编号", "身份证号", "培训批次", "学时", "发证日期", "文件"])
        for number, name, expert_no, id_masked, hours, issued_on, stored_name in rows:
            arcname = f"{expert_no}-{name}-{number}.pdf"
            writer.writerow([number, name, expert_no, id_masked, round_name, hours, issued_on, arcname])
            path = uploads.stored_path(upload_dir, stored_name)
            if not path.is_file():
                continue
            info = zipfile.ZipInfo(arcname, date_time=(issued_on.year, issued_on.month,
                                                       issued_on.day, 0, 0, 0))
            with zf.open(info, "w", force_zip64=False) as dest, path.open("rb") as src:
                while data := src.read(block):
                    dest.write(data)
                    if pipe.chunks:
                        yield pipe.take()
            yield pipe.take()
        zf.writestr(zipfile.ZipInfo("清单.csv", date_time=(2000, 1, 1, 0, 0, 0)),
                    "\ufeff" + listing.getvalue())
    yield pipe.take()
