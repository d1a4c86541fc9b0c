"""专家证书: issuance rules, the kept PDF and PNG, verification, revoke and reissue, batches,
the zip, and the ownership rule on every expert route."""
from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import zipfile

import pytest

from app.models import ExpertStatus, utcnow
from tests.conftest import login_expert, login_staff, page_text

_n = itertools.count(1)


@pytest.fixture
def passed(app, make_expert):
    """An admitted expert, a round with two courses (90 + 45 required minutes = 3 学时), and
    the expert's enrolments: paid and/or passed as asked."""
    from app.extensions import db
    from app.models import Course, Enrollment, Expert, PaymentOrder, TrainingRound

    def factory(name: str = "证书专家", *, paid: bool = True, passed: bool = True,
                round_id: int | None = None, only_first_course: bool = False):
        account = make_expert(name, status=ExpertStatus.ADMITTED)
        with app.app_context():
            expert = db.session.get(Expert, account.expert_id)
            expert.expert_no = f"XJ2096{account.expert_id:06d}"
            now = utcnow()
            if round_id is None:
                rnd = TrainingRound(name=f"证书测试批次{next(_n)}-{account.expert_id}",
                                    admission_batches="不参训", fee_fen=30000, enroll_start=now,
                                    enroll_end=now + dt.timedelta(days=30), active=False)
                rnd.courses = [Course(name="评标法规", required_minutes=90),
                               Course(name="评标实务", required_minutes=45)]
                db.session.add(rnd)
                db.session.flush()
            else:
                rnd = db.session.get(TrainingRound, round_id)
            courses = sorted(rnd.courses, key=lambda c: c.id)
            for i, course in enumerate(courses):
                if only_first_course and i:
                    continue
                e = Enrollment(expert=expert, course=course, attempt_no=1, paid_at=now,
                               review_status="合格" if passed else "不合格", completed=passed,
                               graded_at=now)
                db.session.add(e)
                db.session.add(PaymentOrder(
                    order_no=f"PXT{account.expert_id}{i}{next(_n)}", enrollment=e,
                    expert_no=expert.expert_no, amount_fen=30000, kind="培训费",
                    status="已支付" if paid else "待支付", paid_at=now if paid else None))
            db.session.commit()
            account.expert_no = expert.expert_no
            account.round_id = rnd.id
            db.session.remove()
        return account

    return factory


def _settings(base="http://cert.test"):
    from flask import current_app

    from app.services.certificate import settings_from

    return settings_from(current_app.config, base)


def _issue(app, account, round_id=None):
    from app.extensions import db
    from app.models import Expert, TrainingRound
    from app.services import certificate as certs
    from app.services.audit import SYSTEM

    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        rnd = db.session.get(TrainingRound, round_id or account.round_id)
        cert, created = certs.issue(db.session, expert, rnd, settings=_settings(),
                                    upload_dir=app.config["UPLOAD_FOLDER"], actor=SYSTEM,
                                    today=dt.date(2025, 6, 3), now=utcnow())
        db.session.commit()
        out = {"id": cert.id, "number": cert.number, "created": created,
               "pdf": cert.pdf_file.stored_name, "png": cert.png_file.stored_name,
               "hours": cert.hours, "id_masked": cert.id_number_masked}
        db.session.remove()
    return out


def _read(app, stored_name):
    from app.services.uploads import stored_path

    return stored_path(app.config["UPLOAD_FOLDER"], stored_name).read_bytes()


# ---------------------------------------------------------------- rules


def test_only_passed_and_paid_experts_get_one_certificate(app, passed):
    from app.services.certificate import CertificateError

    unpaid = passed("未缴费", paid=False)
    failed = passed("未合格", passed=False)
    half = passed("缺一门", only_first_course=True)
    for account in (unpaid, failed, half):
        with pytest.raises(CertificateError) as exc:
            _issue(app, account)
        assert "不能发放证书" in exc.value.message
    good = passed("合格专家")
    first = _issue(app, good)
    assert first["created"] and first["hours"] == 3  # (90 + 45) minutes / 45
    again = _issue(app, good)
    assert not again["created"] and again["number"] == first["number"]
    other_round = passed("别的批次")  # passed another round only
    with pytest.raises(CertificateError):
        _issue(app, good, round_id=other_round.round_id)


def test_numbers_are_random_and_well_formed():
    import re

    from app.services.certificate import hours_for, new_number

    numbers = {new_number(dt.date(2025, 1, 1)) for _ in range(200)}
    assert len(numbers) == 200
    assert all(re.fullmatch(r"JX2025(-[0-9A-HJKMNP-TV-Z]{4}){4}", n) for n in numbers)
    assert (hours_for(0), hours_for(30), hours_for(90), hours_for(100)) == (0, 1, 2, 2)


def test_pdf_text_fonts_png_size_and_qr(app, passed):
    from PIL import Image
    from pypdf import PdfReader
    from pyzbar.pyzbar import decode

    account = passed("买买提·艾力")
    cert = _issue(app, account)
    reader = PdfReader(io.BytesIO(_read(app, cert["pdf"])))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert float(page.mediabox.width) > float(page.mediabox.height)  # A4 landscape
    text = page.extract_text().replace("\n", "").replace(" ", "")
    for expected in ("继续教育合格证书", "买买提·艾力", account.expert_no, cert["id_masked"],
                     cert["number"], "3学时"):
        assert expected in text, expected
    assert account.id_number not in text
    fonts = page["/Resources"]["/Font"]
    embedded = []
    for ref in fonts.values():
        font = ref.get_object()
        descendant = font["/DescendantFonts"][0].get_object()
        descriptor = descendant["/FontDescriptor"]
        assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
        embedded.append(str(font["/BaseFont"]))
    assert any("CertSans" in name for name in embedded), embedded
    png = Image.open(io.BytesIO(_read(app, cert["png"])))
    assert png.format == "PNG" and png.size == (1754, 1241)
    codes = [c.data.decode() for c in decode(png)]
    assert codes == [f"http://cert.test/certificates/verify/{cert['number']}"]


def test_png_palette_is_reused_and_true_to_the_pdf():
    """The PNG is a palette image; the second certificate under the same seal reuses the
    first one's palette, and still matches a full-colour drawing of its own PDF closely (no
    colour of the design lost) and its QR code still reads."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageChops, ImageStat
    from pyzbar.pyzbar import decode

    from app.services import certificate as certs

    settings = certs.RenderSettings(issuer="新疆维吾尔自治区住房和城乡建设厅",
                                    seal_image=str(certs.ASSETS / "seal.jpg"),
                                    base_url="http://palette.test")
    key = ("test-palette", settings)
    texts = [certs.CertificateText(certs.new_number(dt.date(2025, 6, 3)), name, "XJ2025000001",
                                   "6501**********1234", "2025年第一期", 3, dt.date(2025, 6, 3))
             for name in ("阿依古丽·买买提", "张三")]
    certs._renderer().palettes.pop(key, None)
    first = Image.open(io.BytesIO(certs.pdf_to_png(certs.render_pdf(texts[0], settings),
                                                   palette_key=key)))
    assert key in certs._renderer().palettes
    pdf = certs.render_pdf(texts[1], settings)
    second = Image.open(io.BytesIO(certs.pdf_to_png(pdf, palette_key=key)))
    assert first.mode == second.mode == "P"
    assert first.getpalette() == second.getpalette()
    doc = pdfium.PdfDocument(pdf)
    try:
        full = doc[0].render(scale=certs.PNG_DPI / 72).to_pil()
    finally:
        doc.close()
    difference = ImageStat.Stat(ImageChops.difference(full, second.convert("RGB")))
    assert max(difference.mean) < 2.0, difference.mean  # of 255, averaged over the page
    assert [c.data.decode() for c in decode(second)] == [
        f"http://palette.test/certificates/verify/{texts[1].number}"]


def test_verify_page_states(app, passed, client):
    from app.extensions import db
    from app.models import Certificate
    from app.services import certificate as certs
    from app.services.audit import Actor

    account = passed("验证专家")
    cert = _issue(app, account)
    with app.test_request_context():
        from flask import url_for

        assert url_for("CertificateVerifyView.verify", number="X") == certs.VERIFY_PATH + "X"
    resp = client.get(f"/certificates/verify/{cert['number']}")  # not logged in
    assert resp.status_code == 200
    body = page_text(resp)
    assert "有效" in body and "验**家" in body and "验证专家" not in body
    assert client.get("/certificates/verify/JX2025-0000-0000-0000-0000").status_code == 404
    assert client.get("/certificates/verify/%3Cscript%3E").status_code == 404
    with app.app_context():
        row = db.session.get(Certificate, cert["id"])
        with pytest.raises(certs.CertificateError):
            certs.revoke(db.session, row, "  ", actor=Actor(None, "测试"), now=utcnow())
        certs.revoke(db.session, row, "信息有误", actor=Actor(None, "测试"), now=utcnow())
        db.session.commit()
        with pytest.raises(certs.CertificateError):
            certs.revoke(db.session, row, "再撤一次", actor=Actor(None, "测试"), now=utcnow())
        db.session.remove()
    body = page_text(client.get(f"/certificates/verify/{cert['number']}"))
    assert "已撤销" in body


def test_reissue_replaces_the_certificate(app, passed):
    from app.extensions import db
    from app.models import AuditEvent, Certificate
    from app.services import certificate as certs
    from app.services.audit import Actor

    account = passed("补发专家")
    old = _issue(app, account)
    with app.app_context():
        row = db.session.get(Certificate, old["id"])
        new = certs.reissue(db.session, row, settings=_settings(),
                            upload_dir=app.config["UPLOAD_FOLDER"], actor=Actor(None, "测试"),
                            today=dt.date(2025, 7, 1), now=utcnow())
        db.session.commit()
        assert new.number != old["number"] and new.reissue_of_id == old["id"]
        assert new.status == "有效" and new.pdf_file_id and new.png_file_id
        db.session.refresh(row)
        assert row.status == "已撤销" and new.number in row.revoke_reason
        with pytest.raises(certs.CertificateError):  # the old one again: a valid one exists
            certs.reissue(db.session, row, settings=_settings(),
                          upload_dir=app.config["UPLOAD_FOLDER"], actor=Actor(None, "测试"),
                          today=dt.date(2025, 7, 1), now=utcnow())
        db.session.rollback()
        actions = {a for (a,) in db.session.query(AuditEvent.action).filter(
            AuditEvent.object_id.in_([old["number"], new.number]))}
        assert {"发放证书", "撤销证书", "补发证书"} <= actions
        db.session.remove()


# ---------------------------------------------------------------- expert screens


def test_expert_page_issues_on_first_visit_and_downloads_the_kept_files(app, passed, monkeypatch):
    from app.services import certificate as certs

    account = passed("页面专家")
    client = app.test_client()
    login_expert(client, account)
    page = client.get("/certificates/")
    assert page.status_code == 200
    text = page_text(page)
    assert "下载图片" in text and "下载 pdf" in text and "有效" in text
    with app.app_context():
        from app.extensions import db
        from app.models import Certificate

        cert = db.session.query(Certificate).filter_by(expert_id=account.expert_id).one()
        cert_id, pdf_name, png_name = cert.id, cert.pdf_file.stored_name, cert.png_file.stored_name
        db.session.remove()

    def boom(*args, **kwargs):
        raise AssertionError("a download must not render again")

    for module in (certs, certs.rendering, certs.issuing):  # wherever a render could start
        monkeypatch.setattr(module, "render", boom)
    monkeypatch.setattr(certs.rendering, "render_pdf", boom)
    png = client.get(f"/certificates/{cert_id}/image")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data == _read(app, png_name)
    assert "attachment" in png.headers["Content-Disposition"]
    pdf = client.get(f"/certificates/{cert_id}/pdf")
    assert pdf.status_code == 200 and pdf.data == _read(app, pdf_name)
    assert client.get(f"/certificates/{cert_id}/image?inline=1").headers[
        "Content-Disposition"].startswith("inline")
    assert client.get("/certificates/").status_code == 200  # visiting again issues nothing


def test_expert_without_certificate_sees_why(app, passed):
    account = passed("尚未合格", passed=False)
    client = app.test_client()
    login_expert(client, account)
    text = page_text(client.get("/certificates/"))
    assert "完成继续教育培训和考试合格后可查看证书" in text
    assert "下载图片" not in text


def test_another_experts_certificate_is_404_on_every_expert_route(app, passed):
    owner = passed("证书主人")
    cert = _issue(app, owner)
    intruder = passed("他人", passed=False)
    client = app.test_client()
    login_expert(client, intruder)
    for url in (f"/certificates/{cert['id']}/image", f"/certificates/{cert['id']}/pdf",
                f"/certificates/{cert['id']}/image?inline=1", "/certificates/999999/pdf"):
        resp = client.get(url)
        assert resp.status_code == 404, url
        assert b"%PDF" not in resp.data and b"PNG" not in resp.data[:8]
    assert cert["number"] not in page_text(client.get("/certificates/"))
    for url in (f"/certificateadminview/show/{cert['id']}",
                f"/certificateadminview/revoke/{cert['id']}",
                f"/certificates/admin/round/{owner.round_id}/zip"):
        assert client.get(url).status_code in (302, 403, 404), url
    # the owner gets them
    mine = app.test_client()
    login_expert(mine, owner)
    assert mine.get(f"/certificates/{cert['id']}/pdf").status_code == 200


def _counting_own_file(monkeypatch) -> list:
    """Calls of the app's own download path (MyCertificateView → certs.own_file)."""
    from app.services import certificate as certs

    calls: list = []
    real = certs.own_file

    def counted(*args, **kwargs):
        calls.append(args[1:])
        return real(*args, **kwargs)

    monkeypatch.setattr(certs, "own_file", counted)
    return calls


def _comparable(resp) -> dict:
    import re

    headers = {k: re.sub(r"'nonce-[^']+'", "'nonce'", v) for k, v in resp.headers.items()
               if k not in ("Date", "Expires")}  # the clock, a second apart at most
    return {"status": resp.status_code, "headers": headers, "body": resp.data}


@pytest.mark.commits  # the download front's own connection
def test_download_front_answers_as_the_app_does(app, passed, monkeypatch):
    """The front answers an owner's download in one statement, with the same status,
    headers and bytes as MyCertificateView (reached here through a query string, which the
    front leaves to the app)."""
    account = passed("前置下载")
    cert = _issue(app, account)
    calls = _counting_own_file(monkeypatch)
    client = app.test_client()
    login_expert(client, account)
    for kind in ("image", "pdf"):
        by_app = client.get(f"/certificates/{cert['id']}/{kind}?via=app")
        assert len(calls) == 1 and by_app.status_code == 200
        by_front = client.get(f"/certificates/{cert['id']}/{kind}")
        assert len(calls) == 1, "the front should have answered"
        assert _comparable(by_front) == _comparable(by_app)
        assert by_front.data == _read(app, cert["png" if kind == "image" else "pdf"])
        calls.clear()


@pytest.mark.commits  # the download front's own connection
def test_download_front_leaves_every_doubt_to_the_app(app, passed, monkeypatch):
    """Each thing the app checks before a download, made false in turn: the front's
    statement then finds nothing (and the app gives its own answer)."""
    from sqlalchemy import delete, update

    from app.extensions import db
    from app.models import AppUser, Certificate, UserSession
    from app.security import SESSION_TOKEN
    from app.services import certificate as certs
    from app.services import sessions
    from app.services.audit import SYSTEM
    from app.views._front import run_statement

    owner = passed("前置主人")
    cert = _issue(app, owner)
    other = passed("前置他人")
    other_cert = _issue(app, other)
    client = app.test_client()
    login_expert(client, owner)
    with client.session_transaction() as cookie_session:
        token = cookie_session[SESSION_TOKEN]
    now = utcnow()

    def found(cert_id=cert["id"], user_id=owner.user_id, tok=token, which="pdf",
              permission="can_pdf"):
        return run_statement(app, lambda conn, _: certs.own_file_for_session(
            conn, cert_id, user_id, tok, which, now, permission=permission,
            view_name="MyCertificate"))

    def change(*statements):
        with app.app_context():
            for statement in statements:
                db.session.execute(statement)
            db.session.commit()

    mine = UserSession.user_id == owner.user_id
    assert found() is not None and found(which="png", permission="can_image") is not None
    assert found(cert_id=other_cert["id"]) is None  # another expert's certificate
    assert found(user_id=other.user_id) is None  # another account with this session token
    assert found(tok="not-the-token") is None
    assert found(permission="can_delete") is None  # a permission no role of hers holds
    for broken, mend in (
        (update(UserSession).where(mine).values(last_seen_at=now - dt.timedelta(minutes=2)),
         update(UserSession).where(mine).values(last_seen_at=now)),  # the app would touch it
        (update(UserSession).where(mine).values(created_at=now - dt.timedelta(hours=13)),
         update(UserSession).where(mine).values(created_at=now)),
        (update(UserSession).where(mine).values(ended_at=now),
         update(UserSession).where(mine).values(ended_at=None)),
        (update(AppUser).where(AppUser.id == owner.user_id).values(active=False),
         update(AppUser).where(AppUser.id == owner.user_id).values(active=True)),
        (update(AppUser).where(AppUser.id == owner.user_id).values(must_change_password=True),
         update(AppUser).where(AppUser.id == owner.user_id).values(must_change_password=False)),
    ):
        change(broken)
        assert found() is None, broken
        change(mend)
        assert found() is not None, mend
    from flask_appbuilder.security.sqla.models import assoc_user_role

    with app.app_context():
        roles = db.session.execute(assoc_user_role.select().where(
            assoc_user_role.c.user_id == owner.user_id)).all()
    change(delete(assoc_user_role).where(assoc_user_role.c.user_id == owner.user_id))
    assert found() is None  # no role at all
    change(*(assoc_user_role.insert().values(id=r.id, user_id=r.user_id, role_id=r.role_id)
             for r in roles))
    assert found() is not None
    with app.app_context():
        certs.revoke(db.session, db.session.get(Certificate, cert["id"]), "测试撤销", actor=SYSTEM,
                     now=now)
        db.session.commit()
    assert found() is None
    # through HTTP: revoked, the app answers 404 itself
    calls = _counting_own_file(monkeypatch)
    assert client.get(f"/certificates/{cert['id']}/pdf").status_code == 404 and len(calls) == 1
    assert sessions.TOUCH_EVERY < dt.timedelta(minutes=2)


@pytest.mark.commits  # the download front's own connection
def test_a_stale_session_goes_through_the_app_once(app, passed, monkeypatch):
    """Last seen over a minute ago: the app answers (and notes the session as seen), so
    the next download is the front's."""
    from sqlalchemy import update

    from app.extensions import db
    from app.models import UserSession

    account = passed("前置久候")
    cert = _issue(app, account)
    client = app.test_client()
    login_expert(client, account)
    with app.app_context():
        db.session.execute(update(UserSession).where(UserSession.user_id == account.user_id)
                           .values(last_seen_at=utcnow() - dt.timedelta(minutes=5)))
        db.session.commit()
    calls = _counting_own_file(monkeypatch)
    assert client.get(f"/certificates/{cert['id']}/pdf").status_code == 200
    assert len(calls) == 1
    assert client.get(f"/certificates/{cert['id']}/pdf").status_code == 200
    assert len(calls) == 1


# ---------------------------------------------------------------- staff


def test_staff_revoke_with_reason_and_reissue(app, passed):
    account = passed("撤销专家")
    cert = _issue(app, account)
    staff = app.test_client()
    login_staff(staff)
    assert staff.get("/certificateadminview/list/").status_code == 200
    show = staff.get(f"/certificateadminview/show/{cert['id']}")
    assert show.status_code == 200 and cert["number"] in page_text(show)
    resp = staff.post(f"/certificateadminview/revoke/{cert['id']}", data={"reason": ""})
    assert resp.status_code == 200 and "请填写撤销原因" in page_text(resp)
    resp = staff.post(f"/certificateadminview/revoke/{cert['id']}", data={"reason": "冒名参训"})
    assert resp.status_code == 302
    assert "已撤销" in page_text(staff.get(f"/certificates/verify/{cert['number']}"))
    # the expert no longer downloads it
    expert = app.test_client()
    login_expert(expert, account)
    assert expert.get(f"/certificates/{cert['id']}/pdf").status_code == 404
    assert "该证书已撤销" in page_text(expert.get("/certificates/"))
    resp = staff.post(f"/certificateadminview/reissue/{cert['id']}")
    assert resp.status_code == 302 and "/show/" in resp.headers["Location"]
    assert staff.get("/certificateadminview/revoke/abc").status_code == 404
    assert staff.get("/certificateadminview/show/999999").status_code == 404


@pytest.mark.commits  # the job runs in a session of its own: it must see committed rows
def test_batch_issues_a_round_once_with_progress_and_zip(app, passed):
    from app.extensions import db
    from app.models import Certificate, CertificateBatch

    first = passed("整批甲")
    round_id = first.round_id
    others = [passed(n, round_id=round_id) for n in ("整批乙", "整批丙")]
    passed("整批未缴费", round_id=round_id, paid=False)
    already = _issue(app, others[0])
    staff = app.test_client()
    login_staff(staff)
    assert "整批发放" in page_text(staff.get("/certificates/admin/"))
    app.config["CERTIFICATE_BATCH_INLINE"] = True
    try:
        resp = staff.post(f"/certificates/admin/round/{round_id}/issue")
        assert resp.status_code == 302
        batch_url = resp.headers["Location"]
        page = staff.get(batch_url)
        assert page.status_code == 200 and 'id="batch-bar"' in page.get_data(True)
        assert "nonce=" in page.get_data(True)
        status = staff.get(batch_url.rstrip("/") + "/status").get_json()
        assert status == {**status, "status": "已完成", "total": 2, "done": 2, "failed": 0,
                          "percent": 100, "finished": True}
        resp = staff.post(f"/certificates/admin/round/{round_id}/issue")  # again: nothing new
        status = staff.get(resp.headers["Location"].rstrip("/") + "/status").get_json()
        assert status["total"] == 0 and status["status"] == "已完成"
    finally:
        app.config["CERTIFICATE_BATCH_INLINE"] = False
    with app.app_context():
        valid = db.session.query(Certificate).filter_by(round_id=round_id, status="有效").all()
        assert len(valid) == 3 and len({c.expert_id for c in valid}) == 3
        assert already["number"] in {c.number for c in valid}
        assert db.session.query(CertificateBatch).filter_by(round_id=round_id).count() == 2
        pdfs = {c.number: _read(app, c.pdf_file.stored_name) for c in valid}
        db.session.remove()
    resp = staff.get(f"/certificates/admin/round/{round_id}/zip")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(resp.data))
    names = archive.namelist()
    assert "清单.csv" in names and len(names) == 4
    for number, data in pdfs.items():
        (name,) = [n for n in names if number in n]
        assert archive.read(name) == data
    listing = archive.read("清单.csv").decode("utf-8-sig")
    assert "整批甲" in listing and "整批未缴费" not in listing


@pytest.mark.commits  # the job runs in a session of its own: it must see committed rows
def test_batch_in_processes_and_cli(app, passed):
    """The CLI runner, with a process pool, as the detached process runs it."""
    from app.extensions import db
    from app.models import Certificate

    first = passed("进程甲")
    for n in range(6):
        passed(f"进程{n}", round_id=first.round_id)
    with app.app_context():
        from app.models import TrainingRound

        name = db.session.get(TrainingRound, first.round_id).name
        db.session.remove()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["certificate-batch", "--round", name, "--processes", "2",
                                 "--base-url", "http://cert.test"])
    assert result.exit_code == 0, result.output
    assert "新发 7 张" in result.output
    with app.app_context():
        assert db.session.query(Certificate).filter_by(round_id=first.round_id).count() == 7
        db.session.remove()
    again = runner.invoke(args=["certificate-batch", "--round", name, "--processes", "2"])
    assert "新发 0 张" in again.output


def test_batch_status_json_shape(app, passed):
    """The progress endpoint of a missing batch is a 404, not a 500; a real batch's JSON
    is what the progress bar reads, as the batch's tasks wrote it."""
    from app.extensions import db
    from app.models import CertificateBatch, utcnow

    staff = app.test_client()
    login_staff(staff)
    assert staff.get("/certificates/admin/batch/999999/status").status_code == 404
    assert staff.get("/certificates/admin/batch/999999").status_code == 404
    assert staff.post("/certificates/admin/round/999999/issue").status_code == 404
    first = passed("状态甲")
    with app.app_context():
        batch = CertificateBatch(round_id=first.round_id, created_at=utcnow(), status="进行中",
                                 total=8, done=3, failed=1, message="合格并已缴费 8 人")
        db.session.add(batch)
        db.session.commit()
        batch_id = batch.id
        db.session.remove()
    resp = staff.get(f"/certificates/admin/batch/{batch_id}/status")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    body = json.loads(resp.get_data(as_text=True))
    assert body == {"status": "进行中", "total": 8, "done": 3, "failed": 1, "percent": 50,
                    "message": "合格并已缴费 8 人", "finished": False, "can_cancel": True,
                    "can_retry": False}
    # 取消 (staff): the batch says 已取消 and may be run again; its JSON says so
    assert staff.post(f"/certificates/admin/batch/{batch_id}/cancel").status_code == 302
    body = staff.get(f"/certificates/admin/batch/{batch_id}/status").get_json()
    assert body["status"] == "已取消" and body["finished"] and body["can_retry"]
    assert not body["can_cancel"] and body["percent"] == 50
    with app.app_context():
        db.session.delete(db.session.get(CertificateBatch, batch_id))
        db.session.commit()
        db.session.remove()
