"""系统管理 → 系统设置 (管理员 only): the values app/services/settings.py keeps in the database.

One form, grouped by what the settings govern; 保存 stores every changed value at once or,
when one is wrong, none (each message beside its input, what was typed kept); 恢复默认 next
to a setting gives it back the environment's value. The seal is a PNG through the upload
service, shown as it is now."""
from __future__ import annotations

import mimetypes
import os

from flask import abort, flash, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access

from app.extensions import db
from app.services import settings
from app.services.audit_hooks import current_actor
from app.services.uploads import UploadRejected
from app.services.validators import ValidationError
from app.views.base import add_menu_view, save_upload


def _rows(typed: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> list[dict]:
    """What the template shows per group: each setting, its value (or what was typed), its
    default and whether it is in force, and its message."""
    values = settings.values()
    groups = []
    for group in settings.GROUPS:
        items = []
        for s in settings.CATALOGUE:
            if s.group != group:
                continue
            current = settings.shown(s.key, values[s.key])
            items.append({
                "setting": s,
                "value": (typed or {}).get(s.key, current),
                "default": settings.shown(s.key, settings.default(s.key)),
                "is_default": settings.is_default(s.key),
                "error": (errors or {}).get(s.key),
            })
        groups.append({"name": group, "items": items})
    return groups


class SystemSettingsView(BaseView):
    route_base = "/settings"
    class_permission_name = "SystemSetting"
    # no audience: only the 管理员 role, which holds every permission, gets this screen
    default_view = "index"

    def _page(self, typed=None, errors=None):
        # a form with its messages is a page like any other (200), as FAB's forms answer
        return self.render_template("settings/index.html", groups=_rows(typed, errors),
                                    title="系统设置", has_errors=bool(errors))

    @expose("/", methods=["GET"])
    @has_access
    def index(self):
        return self._page()

    @expose("/", methods=["POST"])
    @has_access
    def save(self):
        reset = request.form.get("reset")
        if reset:
            if reset not in settings.BY_KEY:
                abort(400)
            label = settings.BY_KEY[reset].label
            if settings.reset(db.session, current_actor(), reset):
                flash(f"{label}已恢复默认", "success")
            else:
                flash(f"{label}已是默认值", "info")
            return redirect(url_for(".index"))
        typed = {s.key: request.form.get(s.key, "")[:200] for s in settings.CATALOGUE
                 if s.kind != settings.IMAGE}
        new, errors = {}, {}
        for key, text in typed.items():
            try:
                new[key] = settings.parse(key, text)
            except ValidationError as exc:
                errors[key] = exc.message
        errors |= {k: v for k, v in settings.check_together(new).items() if k not in errors}
        if errors:
            return self._page(typed, errors)
        upload = request.files.get(settings.SEAL_KEY)
        if upload is not None and upload.filename:
            try:
                # the refusal's audit record is kept: the page is shown again and the
                # request commits, nothing else having been changed
                stored = save_upload(upload, "seal", current_actor().id)
            except UploadRejected as exc:
                return self._page(typed, {settings.SEAL_KEY: exc.message})
            new[settings.SEAL_KEY] = stored.stored_name
        actor = current_actor()
        changed = [key for key, value in new.items()
                   if settings.change(db.session, actor, key, value)]
        flash("已保存" if changed else "已保存（没有修改）", "success")
        return redirect(url_for(".index"))

    @expose("/seal")
    @has_access
    def seal(self):
        """The seal new certificates get (the uploaded PNG, else the configured file)."""
        path = settings.get(settings.SEAL_KEY)
        if not path or not os.path.isfile(path):
            abort(404)
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if settings.is_default(settings.SEAL_KEY) is False:
            kind = "image/png"  # uploads are kept under random names without an extension
        return send_file(path, mimetype=kind, max_age=0)


def register(appbuilder) -> None:
    add_menu_view(appbuilder, SystemSettingsView, "系统设置", category="系统管理",
                  icon="fa-sliders", category_icon="fa-cogs")
