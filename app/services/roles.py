"""Roles are defined here, in code, and written to the database by `flask init`.

Every view class and menu item says who it is for with an ``audience``
attribute; a role receives exactly the permissions of its audiences.
"""
from __future__ import annotations

from typing import Any

from flask_appbuilder.security.sqla.models import PermissionView

ROLE_ADMIN = "管理员"
ROLE_REVIEWER = "审核人员"
ROLE_EXPERT = "专家"
ROLE_AUDITOR = "审计员"

# audience → roles that get it. The admin role receives every permission.
AUDIENCE_ROLES: dict[str, tuple[str, ...]] = {
    "staff": (ROLE_REVIEWER,),
    "expert": (ROLE_EXPERT,),
    "audit": (ROLE_AUDITOR,),
    "everyone": (ROLE_REVIEWER, ROLE_EXPERT, ROLE_AUDITOR),
    # read-only screens for staff that auditors may see too (the 首页's statistics)
    "staff_and_audit": (ROLE_REVIEWER, ROLE_AUDITOR),
}
# Accounts that sign in on the 管理人员 tab.
STAFF_ROLES = (ROLE_ADMIN, ROLE_REVIEWER, ROLE_AUDITOR)


def _audience_of(view: Any) -> str | None:
    return getattr(view, "audience", None) if view is not None else None


def role_permission_names(appbuilder: Any) -> dict[str, set[tuple[str, str]]]:
    """(permission, view or menu name) pairs each non-admin role must hold."""
    wanted: dict[str, set[tuple[str, str]]] = {r: set() for a in AUDIENCE_ROLES.values() for r in a}
    for view in appbuilder.baseviews:
        for role in AUDIENCE_ROLES.get(_audience_of(view) or "", ()):
            for perm in view.base_permissions or []:
                wanted[role].add((perm, view.class_permission_name))
    for category in appbuilder.menu.get_list():
        items = category.childs or [category]
        for item in items:
            audience = _audience_of(item.baseview)
            for role in AUDIENCE_ROLES.get(audience or "", ()):
                wanted[role].add(("menu_access", item.name))
                if category.childs:
                    wanted[role].add(("menu_access", category.name))
    return wanted


def sync_roles(appbuilder: Any) -> dict[str, int]:
    """Create every permission, then set each role's permissions to exactly its list.
    Flushes; the caller commits (FAB's own calls here commit what they create)."""
    sm = appbuilder.sm
    # FAB grants each new permission to the admin role as it creates it: the role
    # must exist first, or the grant fails (and FAB only logs it).
    sm.add_role(ROLE_ADMIN)
    appbuilder.add_permissions(update_perms=True)
    session = sm.session
    all_pvs = session.query(PermissionView).all()
    by_key = {(pv.permission.name, pv.view_menu.name): pv for pv in all_pvs}
    counts: dict[str, int] = {}
    admin = sm.add_role(ROLE_ADMIN)
    admin.permissions = list(all_pvs)
    counts[ROLE_ADMIN] = len(all_pvs)
    for role_name, keys in role_permission_names(appbuilder).items():
        role = sm.find_role(role_name) or sm.add_role(role_name)
        role.permissions = [by_key[k] for k in sorted(keys) if k in by_key]
        counts[role_name] = len(role.permissions)
    sm.add_role(sm.auth_role_public)
    session.flush()  # the command (flask init / sync-roles) commits
    return counts
