"""The index: experts land on their profile, staff on the 首页 (统计分析) or the expert list."""
from flask import redirect, url_for
from flask_appbuilder import IndexView, expose
from flask_login import current_user

from app.security import user_is_expert


class HomeIndexView(IndexView):
    @expose("/")
    def index(self):
        if not current_user.is_authenticated:
            return redirect(url_for("LoginView.login"))
        if user_is_expert(current_user):
            return redirect(url_for("MyProfileView.profile"))
        if self.appbuilder.sm.has_access("can_index", "Dashboard"):
            return redirect(url_for("DashboardView.index"))
        if self.appbuilder.sm.has_access("can_list", "Expert"):
            return redirect(url_for("ExpertAdminView.list"))
        if self.appbuilder.sm.has_access("can_list", "AuditEvent"):
            return redirect(url_for("AuditEventView.list"))
        return redirect(url_for("AccountView.change_password"))
