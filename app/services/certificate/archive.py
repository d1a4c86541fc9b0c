"""下载证书包: a round's kept PDFs and a list, streamed as one zip."""
from __future__ import annotations

import datetime as dt
import io
import stat
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from stream_zip import NO_COMPRESSION_32, stream_zip

from app.models import (
    Certificate,
    StoredFile,
    TrainingRound,
)
from app.services import uploads
from app.services.certificate.common import (
    VALID,
)
from app.services.export import csv_writer

MEMBER_MODE = stat.S_IFREG | 0o644


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
    answer started: the request's commit may expire what the session holds). Members are
    stored (PDFs do not compress), each read ``block`` bytes at a time."""
    listing = io.StringIO()
    writer = csv_writer(listing)  # names typed by people: never a formula
    writer.writerow(["证书编号", "姓名", "专家编号", "身份证号", "培训批次", "学时", "发证日期", "文件"])

    def read(path: Path):
        with path.open("rb") as src:
            while data := src.read(block):
                yield data

    def members():
        for number, name, expert_no, id_masked, hours, issued_on, stored_name in rows:
            arcname = f"{expert_no}-{name}-{number}.pdf"
            writer.writerow([number, name, expert_no, id_masked, round_name, hours, issued_on,
                             arcname])
            path = uploads.stored_path(upload_dir, stored_name)
            if not path.is_file():
                continue
            when = dt.datetime(issued_on.year, issued_on.month, issued_on.day)
            yield arcname, when, MEMBER_MODE, NO_COMPRESSION_32, read(path)
        # last: by now every row is in the listing
        yield ("清单.csv", dt.datetime(2000, 1, 1), MEMBER_MODE, NO_COMPRESSION_32,
               iter([("\ufeff" + listing.getvalue()).encode("utf-8")]))

    return stream_zip(members(), extended_timestamps=False)
