"""审计日志: searchable by 审计员 and 管理员; no one can change or delete an entry."""
from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface

from app.models import AuditEvent
from app.views.base import StaffModelView, add_menu_view
from app.views.widgets import BeijingTimesMixin


class AuditEventView(BeijingTimesMixin, StaffModelView):
    datamodel = SQLAInterface(AuditEvent)
    class_permission_name = "AuditEvent"
    audience = "audit"
    base_permissions = ["can_list", "can_show"]
    base_order = ("id", "desc")
    list_title = show_title = "审计日志"
    label_columns = {"occurred_at": "时间（北京时间）", "actor_name": "操作人", "actor_id": "操作人ID",
                     "ip": "IP地址", "action": "操作", "object_type": "对象类型",
                     "object_id": "对象", "detail": "说明", "before": "变更前", "after": "变更后"}
    list_columns = ["occurred_at", "actor_name", "ip", "action", "object_type", "object_id",
                    "detail"]
    show_columns = [*list_columns, "actor_id", "before", "after"]
    search_columns = ["occurred_at", "actor_name", "ip", "action", "object_type", "object_id"]
    order_columns = ["occurred_at", "action", "actor_name"]
    filter_row = ("occurred_at", ("actor_name", "eq"), ("action", "audit_action"), "object_type",
                  ("ip", "eq"))
    beijing_time_columns = ("occurred_at",)


def register(appbuilder) -> None:
    add_menu_view(appbuilder, AuditEventView, "审计日志", category="系统管理", icon="fa-shield",
                  category_icon="fa-cogs")
