"""Uploaded files, served only through the ownership rule, always as attachments."""
from __future__ import annotations

from flask import abort, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_login import current_user

from app.extensions import db
from app.models import StoredFile
from app.services.access import can_read_file, is_staff
from app.views.base import send_stored


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
            abort(404)  # the general 404 page: a stranger's file is a missing one
        # Staff may view images and PDFs inside the review page; everyone else downloads.
        inline = request.args.get("inline") == "1" and is_staff(current_user)
        return send_stored(stored.stored_name, stored.content_type, stored.original_name,
                           inline=inline)


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(FileView)
