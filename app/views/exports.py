"""导出任务: the exports built on the worker, with their progress and download. A job is
seen only by the person who asked for it (or 管理员): anyone else finds no such job."""
from __future__ import annotations

from flask import current_app, jsonify, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_login import current_user

from app.extensions import db
from app.services import audit, export_jobs
from app.services.audit import Action
from app.services.audit_hooks import current_actor
from app.services.errors import NotFound
from app.services.export import EXPORT_MIME
from app.views.base import add_menu_view, with_status_text


def _download_url(job) -> str:
    return url_for("ExportJobView.download", job_id=job.id)


class ExportJobListView(BaseView):
    """系统管理 → 导出任务: the signed-in person's own exports, newest first."""

    route_base = "/exports"
    class_permission_name = "ExportJobList"
    audience = "staff"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        rows = [(job, export_jobs.progress_percent(job))
                for job in export_jobs.jobs_of(db.session, current_user.id)]
        return self.render_template("exports/list.html", rows=rows)


class ExportJobView(BaseView):
    """One export: its progress (polled) and its file. Every staff role exports (审计员
    too), so this page is for every signed-in account; the job's owner rule decides."""

    route_base = "/exports/job"
    class_permission_name = "ExportJob"
    audience = "everyone"
    default_view = "show"

    @expose("/<int:job_id>")
    @has_access
    def show(self, job_id: int):
        job = export_jobs.own_job(db.session, current_user, job_id)
        return self.render_template("exports/job.html", job=job,
                                    percent=export_jobs.progress_percent(job))

    @expose("/<int:job_id>/status")
    @has_access
    def status(self, job_id: int):
        job = export_jobs.own_job(db.session, current_user, job_id)
        return jsonify(with_status_text(export_jobs.status_json(job, _download_url(job))))

    @expose("/<int:job_id>/download")
    @has_access
    def download(self, job_id: int):
        job = export_jobs.own_job(db.session, current_user, job_id)
        if not job.is_done or not job.stored_name:
            raise NotFound("导出文件尚未生成")
        audit.record(db.session, Action.EXPORT, actor=current_actor(), object_type=job.title,
                     object_id=job.id, detail="下载导出文件")
        path = export_jobs.export_path(current_app.config["UPLOAD_FOLDER"], job.stored_name)
        if not path.is_file():  # removed by the clean-up meanwhile
            raise NotFound("导出文件已过期，请重新导出")
        return send_file(path, mimetype=EXPORT_MIME, as_attachment=True,
                         download_name=f"{job.title}.xlsx", max_age=0)


def register(appbuilder) -> None:
    add_menu_view(appbuilder, ExportJobListView, "导出任务", category="系统管理",
                  icon="fa-file-excel-o", category_icon="fa-cogs")
    appbuilder.add_view_no_menu(ExportJobView)
