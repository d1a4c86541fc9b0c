"""How long 下载申请表 takes: the application PDF of a fully filled application.

    .venv/bin/python -m bench.application_pdf [--repeat 30]

Builds a fresh SQLite database in a temporary folder (migrations, reference data), one
expert with every tab filled (3 educations, 2 qualifications, 4 work experiences,
5 evaluations, photo), then times render_application_pdf() (HTML → WeasyPrint PDF with
the embedded CJK face and the QR code) and the whole request through the test client.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench import percentile, prepare_database, save_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pdf-"))


    from app import create_app
    from app.extensions import db
    from app.models import (
        Degree,
        Education,
        EducationLevel,
        EvaluationExperience,
        Expert,
        Prefecture,
        Qualification,
        Specialty,
        Title,
        WorkExperience,
    )
    from app.services import uploads
    from app.services.application_pdf import render_application_pdf
    from app.services.experts import prepare_new_expert
    from app.services.validators import make_id_number

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.db'}",
                      "UPLOAD_FOLDER": str(tmp / "uploads"), "TESTING": True,
                      "WTF_CSRF_ENABLED": False,
                      "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        prepare_database(app)
        s = db.session
        first = lambda model: s.query(model).first()  # noqa: E731
        photo = io.BytesIO()
        Image.new("RGB", (295, 413), (180, 200, 230)).save(photo, "JPEG")
        e = Expert(name="买买提·艾力", id_number=make_id_number("650102", dt.date(1975, 3, 9), 13),
                   phone="13899990000", backup_phone="13899990001", email="bench@example.com",
                   prefecture=first(Prefecture), employer="新疆维吾尔自治区建筑设计研究院有限公司",
                   main_specialty=s.query(Specialty).filter(Specialty.parent_id.isnot(None)).first(),
                   title=first(Title), admission_type="续聘", admission_batch="2024年第一批",
                   address="乌鲁木齐市天山区光明路1号", accepts_remote=True, emergency_expert=True)
        prepare_new_expert(s, e)
        e.photo_file = uploads.store(s, owner_id=e.user_id, kind_name="photo", filename="照片.jpg",
                                     data=photo.getvalue(), upload_dir=app.config["UPLOAD_FOLDER"])
        for i in range(3):
            e.educations.append(Education(education_level=first(EducationLevel), degree=first(Degree),
                                          school="新疆大学", major="土木工程",
                                          start_date=dt.date(1993 + i * 4, 9, 1),
                                          end_date=dt.date(1997 + i * 4, 7, 1)))
        for i in range(2):
            e.qualifications.append(Qualification(
                name="一级注册建造师", is_registered=True, certificate_no=f"新16500{i}",
                issue_date=dt.date(2010, 1, 1)))
        for i in range(4):
            e.work_experiences.append(WorkExperience(start_date=dt.date(1997 + i * 7, 7, 1),
                                                     end_date=dt.date(2004 + i * 7, 6, 30),
                                                     employer="新疆建工集团第一建筑工程有限责任公司",
                                                     position="总工程师", referee="王工"))
        for i in range(5):
            e.evaluation_experiences.append(EvaluationExperience(
                evaluated_on=dt.date(2020 + i % 4, 5, 1), project_name="乌鲁木齐市保障性住房项目施工总承包",
                tenderer="乌鲁木齐市住房和城乡建设局", role="评标专家"))
        s.commit()
        expert_id = e.id

    with app.test_request_context():
        expert = db.session.get(Expert, expert_id)
        url = f"http://127.0.0.1:8080/review/{expert_id}"
        render_application_pdf(expert, url)  # warm-up: fonts loaded, templates compiled
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            pdf = render_application_pdf(expert, url)
            times.append((time.perf_counter() - t0) * 1000)
        from pypdf import PdfReader

        pages = len(PdfReader(io.BytesIO(pdf)).pages)
    result = {
        "benchmark": "application_pdf", "repeat": args.repeat, "bytes": len(pdf),
        "median_ms": round(statistics.median(times), 1), "p95_ms": round(percentile(times, 0.95), 1),
        "min_ms": round(min(times), 1), "pages": pages,
    }
    print(json.dumps(result, ensure_ascii=False, indent=1))
    save_result("application_pdf", result)


if __name__ == "__main__":
    main()
