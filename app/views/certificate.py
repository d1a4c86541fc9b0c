"""【专家证书】 for experts (查看, 下载图片, 下载 pdf), the public verification page the QR code
opens, and the staff screens: 证书列表 (撤销, 补发), 整批发放 with a progress bar, 发放记录,
and a round's certificates as one zip. An ordinary 下载图片 / 下载 pdf is answered before Flask
by ``CertificateDownloadFront`` (one statement; see app/front.py), anything else by the views."""
from __future__ import annotations

import re
from urllib.parse import quote

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_login import current_user
from sqlalchemy import select

from app.errors import DATABASE_ERRORS
from app.extensions import db
from app.fab_fixes import MAX_DB_INT
from app.models import Certificate, CertificateBatch, TrainingRound, beijing_today, utcnow
from app.services import audit, settings
from app.services import certificate as certs
from app.services.access import SessionLimits
from app.services.audit import Action
from app.services.audit_hooks import current_actor
from app.services.errors import DomainError
from app.services.expert_status import is_admitted
from app.views._front import (
    CERTIFICATE_DOWNLOAD,
    SessionCookie,
    front_headers,
    run_statement,
)
from app.views._menus import expert_is_admitted
from app.views.base import (
    ExpertScreen,
    StaffModelView,
    add_menu_view,
    file_link,
    send_stored,
    stored_file_response,
    with_status_text,
)
from app.views.widgets import BeijingTimesMixin


def render_settings(base_url: str | None = None) -> certs.RenderSettings:
    """Issuer, seal and the QR code's address (PUBLIC_BASE_URL, else this request's host)."""
    cfg = settings.config()
    return certs.settings_from(cfg, base_url or cfg.get("PUBLIC_BASE_URL") or request.host_url)


def _send_kept(kept: certs.KeptFile, inline: bool = False):
    """Only a file send: the certificate was rendered when issued."""
    return send_stored(kept.stored_name, kept.content_type, kept.download_name, inline=inline)


class MyCertificateView(ExpertScreen):
    """专家证书: the expert's certificates; issued here on the first visit after passing."""

    route_base = "/certificates"
    class_permission_name = "MyCertificate"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        expert = self._expert()
        if is_admitted(expert):
            cfg = current_app.config
            # the page opens whatever happens: a refusal or a failed render is said on it
            # (a certificate issued before the failure is kept, files and row alike)
            try:
                issued = certs.issue_due(
                    db.session, expert, settings=render_settings(), upload_dir=cfg["UPLOAD_FOLDER"],
                    actor=current_actor(), today=beijing_today(), now=utcnow(),
                    minutes_per_hour=settings.get("CERTIFICATE_MINUTES_PER_HOUR"))
                if issued:
                    flash("证书已生成", "success")
            except certs.CertificateError as exc:  # a rule said no: its words
                flash(exc.message, "warning")
            except Exception:  # rendering or storing failed: staff can reissue
                current_app.logger.exception("certificate issue failed for expert %s", expert.id)
                flash("证书生成失败，请稍后再试或联系管理人员", "danger")
        rows = db.session.execute(select(Certificate).where(Certificate.expert_id == expert.id)
                                  .order_by(Certificate.issued_on.desc(), Certificate.id.desc())
                                  ).scalars().all()
        return self.render_template("certificate/my_certificates.html", expert=expert, rows=rows)

    def _kept(self, cert_id: int, which: str) -> certs.KeptFile:
        kept = certs.own_file(db.session, cert_id, current_user.id, which)
        if kept is None:  # not this expert's, revoked, or no such certificate
            abort(404)
        return kept

    @expose("/<int:cert_id>/image")
    @has_access
    def image(self, cert_id: int):
        """下载图片 (``?inline=1``: shown in the page)."""
        return _send_kept(self._kept(cert_id, "png"), inline=request.args.get("inline") == "1")

    @expose("/<int:cert_id>/pdf")
    @has_access
    def pdf(self, cert_id: int):
        """下载 pdf."""
        return _send_kept(self._kept(cert_id, "pdf"))


class CertificateVerifyView(BaseView):
    """What the certificate's QR code opens: no login; the holder's name masked."""

    route_base = "/certificates/verify"
    class_permission_name = "CertificateVerify"
    default_view = "verify"

    @expose("/<number>")
    def verify(self, number: str):
        found = certs.verify(db.session, number)
        page = self.render_template("certificate/verify.html", found=found, number=number[:40],
                                    issuer=settings.get("CERTIFICATE_ISSUER"))
        return (page, 200) if found else (page, 404)


class CertificateAdminView(BeijingTimesMixin, StaffModelView):
    """证书列表: every certificate; 撤销 with a reason, 补发; files through the file view."""

    datamodel = SQLAInterface(Certificate)
    beijing_time_columns = ("created_at", "revoked_at")
    base_permissions = ["can_list", "can_show", "can_revoke", "can_reissue"]
    base_order = ("id", "desc")
    list_title = show_title = "证书列表"
    show_template = "certificate/admin_show.html"
    label_columns = {"number": "证书编号", "holder_name": "姓名", "expert_no": "专家编号",
                     "id_number_masked": "身份证号", "round": "培训批次", "round_name": "培训批次",
                     "hours": "学时", "issued_on": "发证日期", "status": "状态",
                     "revoked_at": "撤销时间", "revoke_reason": "撤销原因", "pdf_file": "PDF 文件",
                     "png_file": "图片文件", "created_at": "生成时间", "reissue_of_id": "补发自（证书序号）"}
    list_columns = ["number", "holder_name", "expert_no", "id_number_masked", "round_name", "hours",
                    "issued_on", "status"]
    show_columns = ["number", "holder_name", "expert_no", "id_number_masked", "round_name", "hours",
                    "issued_on", "status", "revoked_at", "revoke_reason", "reissue_of_id",
                    "pdf_file", "png_file", "created_at"]
    search_columns = ["number", "expert_no", "holder_name", "round", "status", "issued_on"]
    exact_search_columns = ("number", "expert_no")
    filter_row = ("number", "expert_no", ("holder_name", "prefix"), "round",
                  ("status", "certificate_status"))
    formatters_columns = {"pdf_file": file_link, "png_file": file_link}

    def _cert(self, pk) -> Certificate:
        try:
            return db.get_or_404(Certificate, int(pk))
        except (TypeError, ValueError):
            abort(404)

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        g.certificate = self._cert(pk)  # for the 撤销 / 补发 buttons
        return super().show(pk)

    @expose("/revoke/<pk>", methods=["GET", "POST"])
    @has_access
    def revoke(self, pk):
        cert = self._cert(pk)
        error = None
        if request.method == "POST":
            try:  # refused: the form again, the reason beside it
                certs.revoke(db.session, cert, request.form.get("reason"), actor=current_actor(),
                             now=utcnow())
                flash(f"证书 {cert.number} 已撤销", "success")
                return redirect(url_for(".show", pk=cert.id))
            except DomainError as exc:
                error = exc.message
        return self.render_template("certificate/revoke.html", cert=cert, error=error,
                                    reason=request.form.get("reason", ""))

    @expose("/reissue/<pk>", methods=["POST"])
    @has_access
    def reissue(self, pk):
        cert = self._cert(pk)
        cfg = current_app.config
        new = certs.reissue(db.session, cert, settings=render_settings(),
                            upload_dir=cfg["UPLOAD_FOLDER"], actor=current_actor(),
                            today=beijing_today(), now=utcnow(),
                            minutes_per_hour=settings.get("CERTIFICATE_MINUTES_PER_HOUR"))
        flash(f"已补发，新证书编号 {new.number}", "success")
        return redirect(url_for(".show", pk=new.id))


class CertificateBatchAdminView(BeijingTimesMixin, StaffModelView):
    """发放记录: each 整批发放 and how it went."""

    datamodel = SQLAInterface(CertificateBatch)
    beijing_time_columns = ("created_at", "started_at", "finished_at", "heartbeat_at")
    base_permissions = ["can_list", "can_show"]
    base_order = ("id", "desc")
    list_title = show_title = "发放记录"
    label_columns = {"round": "培训批次", "status": "状态", "total": "应发", "done": "已处理",
                     "failed": "失败", "created_at": "提交时间", "started_at": "开始时间",
                     "finished_at": "结束时间", "message": "说明"}
    list_columns = ["round", "status", "total", "done", "failed", "created_at", "finished_at"]
    show_columns = ["round", "status", "total", "done", "failed", "created_at", "started_at",
                    "finished_at", "message"]
    search_columns = ["round", "status"]
    filter_row = ("round", ("status", "batch_status"), "created_at")


def _flash_danger(message: str) -> None:
    flash(message, "danger")


class CertificateIssueView(BaseView):
    """整批发放: per round, how many passed and paid and hold a certificate; start a batch
    (a progress bar follows it, 取消 and 重新发放 beside it); 下载证书包 (zip)."""

    route_base = "/certificates/admin"
    class_permission_name = "CertificateIssue"
    # 取消 and 重新发放 are part of 整批发放: whoever may start a batch may stop or resume it
    method_permission_name = {"cancel": "issue", "retry": "issue"}
    audience = "staff"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        rounds = db.session.execute(select(TrainingRound).order_by(TrainingRound.id.desc())
                                    ).scalars().all()
        rows = [(r, certs.round_counts(db.session, r), certs.active_batch(db.session, r.id))
                for r in rounds]
        return self.render_template("certificate/rounds.html", rows=rows)

    @expose("/round/<int:round_id>/issue", methods=["POST"])
    @has_access
    def issue(self, round_id: int):
        """Queues the batch; its plan task is sent once this request has committed (see
        certificate.batch): a queue that cannot be reached is said at once."""
        rnd = db.get_or_404(TrainingRound, round_id)
        batch, created = certs.start_batch(db.session, rnd, actor=current_actor(), now=utcnow(),
                                           base_url=render_settings().base_url,
                                           on_failure=_flash_danger)
        if not created:
            flash("该批次正在发放中，以下为其进度", "info")
        return redirect(url_for(".batch", batch_id=batch.id))

    @expose("/batch/<int:batch_id>/cancel", methods=["POST"])
    @has_access
    def cancel(self, batch_id: int):
        batch = db.get_or_404(CertificateBatch, batch_id)
        certs.cancel_batch(db.session, batch, actor=current_actor(), now=utcnow())
        flash("已取消该发放批次；已生成的证书保留", "success")
        return redirect(url_for(".batch", batch_id=batch.id))

    @expose("/batch/<int:batch_id>/retry", methods=["POST"])
    @has_access
    def retry(self, batch_id: int):
        batch = db.get_or_404(CertificateBatch, batch_id)
        certs.retry_batch(db.session, batch, actor=current_actor(), now=utcnow(),
                          base_url=render_settings().base_url, on_failure=_flash_danger)
        flash("已重新发放，尚未完成的部分将继续生成", "info")
        return redirect(url_for(".batch", batch_id=batch.id))

    @expose("/batch/<int:batch_id>")
    @has_access
    def batch(self, batch_id: int):
        batch = db.get_or_404(CertificateBatch, batch_id)
        return self.render_template("certificate/batch.html", batch=batch,
                                    percent=certs.progress_percent(batch))

    @expose("/batch/<int:batch_id>/status")
    @has_access
    def status(self, batch_id: int):
        batch = db.get_or_404(CertificateBatch, batch_id)
        return jsonify(with_status_text(certs.status_json(batch)))

    @expose("/round/<int:round_id>/zip")
    @has_access
    def zip(self, round_id: int):
        """下载证书包: streamed from the kept PDFs."""
        rnd = db.get_or_404(TrainingRound, round_id)
        audit.record(db.session, Action.EXPORT, actor=current_actor(), object_type="证书包",
                     object_id=rnd.id, detail=rnd.name)
        body = certs.zip_round(db.session, rnd, current_app.config["UPLOAD_FOLDER"])
        resp = Response(stream_with_context(body), mimetype="application/zip")
        name = quote(f"继续教育合格证书-{rnd.name}.zip")
        resp.headers["Content-Disposition"] = (
            f"attachment; filename=certificates.zip; filename*=UTF-8''{name}")
        resp.headers["Cache-Control"] = "no-store"
        return resp


class CertificateDownloadFront:
    """WSGI middleware: 下载图片 and 下载 pdf of one's own kept certificate without Flask.

    ``GET /certificates/<id>/image`` and ``/pdf`` (no query string) are answered here when
    ``certs.own_file_for_session`` finds, in one statement, a fresh server-side session,
    an active account with its password changed, a role holding the view's permission and
    the expert's own valid certificate; the file is sent as ``send_stored`` sends it, with
    the headers app.guards gives. Anything else goes on to Flask and MyCertificateView,
    whose answers (404, the login or password page) are the app's own."""

    PATH = re.compile(r"/certificates/([1-9][0-9]{0,17})/(image|pdf)\Z")
    name = CERTIFICATE_DOWNLOAD  # its row in _front.GUARDS

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self.cookie = SessionCookie(app)

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and not environ.get("QUERY_STRING"):
            match = self.PATH.match(environ.get("PATH_INFO", ""))
            # an id no column holds goes on to Flask, whose bounded converter answers 404
            if match and int(match.group(1)) <= MAX_DB_INT:
                try:
                    resp = self._answer(environ, int(match.group(1)), match.group(2))
                except DATABASE_ERRORS:
                    # a database fault goes on to Flask: its retry or its Chinese 503
                    resp = None
                if resp is not None:
                    return resp(environ, start_response)
        return self.wsgi_app(environ, start_response)

    def _answer(self, environ, cert_id: int, kind: str):
        identity = self.cookie.identity(environ)
        if identity is None:
            return None
        user_id, token, _ = identity
        cfg = self.app.config
        which = "png" if kind == "image" else "pdf"
        kept = run_statement(self.app, lambda conn, _: certs.own_file_for_session(
            conn, cert_id, user_id, token, which, utcnow(), permission=f"can_{kind}",
            view_name=MyCertificateView.class_permission_name,
            limits=SessionLimits.from_config(settings.front_config(self.app))))
        if kept is None:
            return None
        resp = stored_file_response(environ, cfg["UPLOAD_FOLDER"], kept.stored_name,
                                    kept.content_type, kept.download_name,
                                    use_x_sendfile=cfg.get("USE_X_SENDFILE", False))
        if resp is not None:
            for name, value in front_headers(environ, []):
                resp.headers[name] = value
        return resp


def register(appbuilder) -> None:
    add_menu_view(appbuilder, MyCertificateView, "专家证书", icon="fa-certificate",
                  menu_cond=expert_is_admitted)
    appbuilder.add_view_no_menu(CertificateVerifyView)
    add_menu_view(appbuilder, CertificateAdminView, "证书列表", category="证书管理",
                  icon="fa-certificate")
    add_menu_view(appbuilder, CertificateIssueView, "整批发放", category="证书管理", icon="fa-files-o")
    add_menu_view(appbuilder, CertificateBatchAdminView, "发放记录", category="证书管理",
                  icon="fa-history")
    app = current_app._get_current_object()
    app.wsgi_app = CertificateDownloadFront(app, app.wsgi_app)
