"""Uploaded files, served only through the ownership rule, always as attachments."""
from __future__ import annotations

from flask import abort, current_app, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_login import current_user
from werkzeug.utils import send_file as werkzeug_send_file

from app.extensions import db
from app.models import StoredFile
from app.services.access import can_read_file, is_staff
from app.services.uploads import stored_path


class FileView(BaseView):
    route_base = "/files"
    class_permission_name = "File"
    audience = "everyone"
    default_view = "download"

    @expose("/<int:file_id>")
    @has_access
    def download(self, file_id: int):
        stored = db.session.get(StoredFile, file_id)
        if stored is None or not can_read_file(current_user, stored):
            abort(404)
        # Staff may view images and PDFs inside the review page; everyone else downloads.
        inline = request.args.get("inline") == "1" and is_staff(current_user)
        return send_stored(stored.stored_name, stored.content_type, stored.original_name,
                           inline=inline)


def stored_file_response(environ, upload_dir: str, stored_name: str, content_type: str,
                         download_name: str | None = None, *, inline: bool = False,
                         conditional: bool = False, response_class=None,
                         use_x_sendfile: bool = False):
    """A kept file from ``upload_dir`` (None when it is gone), as an attachment, or inline
    in a frame of our own pages only. For the app (``send_stored``) and the download front,
    which has no Flask request."""
    path = stored_path(upload_dir, stored_name)
    if not path.is_file():
        return None
    resp = werkzeug_send_file(path, environ, mimetype=content_type, as_attachment=not inline,
                              download_name=download_name, max_age=0, conditional=conditional,
                              use_x_sendfile=use_x_sendfile, response_class=response_class)
    if inline:
        resp.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    return resp


def send_stored(stored_name: str, content_type: str, download_name: str | None = None, *,
                inline: bool = False, conditional: bool = False):
    """A kept file from UPLOAD_FOLDER (404 when it is gone); nosniff and no-store come with
    every answer (app.guards)."""
    cfg = current_app.config
    resp = stored_file_response(request.environ, cfg["UPLOAD_FOLDER"], stored_name, content_type,
                                download_name, inline=inline, conditional=conditional,
                                response_class=current_app.response_class,
                                use_x_sendfile=cfg.get("USE_X_SENDFILE", False))
    if resp is None:
        abort(404)
    return resp


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(FileView)


def save_upload(file_storage, kind_name: str, owner_id: int | None) -> StoredFile:
    """Store a file from a form through the upload service (UploadRejected on refusal)."""
    from app.services import audit, uploads
    from app.services.audit import Action
    from app.services.audit_hooks import current_actor

    cfg = current_app.config
    data = file_storage.read() if file_storage else b""
    name = file_storage.filename if file_storage else ""
    try:
        stored = uploads.store(
            db.session, owner_id=owner_id, kind_name=kind_name, filename=name, data=data,
            upload_dir=cfg["UPLOAD_FOLDER"], image_max=cfg["UPLOAD_MAX_IMAGE_BYTES"],
            pdf_max=cfg["UPLOAD_MAX_DOCUMENT_BYTES"])
    except uploads.UploadRejected as exc:
        audit.record(db.session, Action.FILE_REJECTED, actor=current_actor(), object_type="文件",
                     detail=f"{uploads.safe_name(name)}：{exc.message}")
        db.session.commit()
        raise
    audit.record(db.session, Action.FILE_UPLOAD, actor=current_actor(), object_type="文件",
                 object_id=stored.id, detail=stored.original_name)
    return stored
