"""Roles are defined here, in code, and written to the database by `flask init`.

Every view class and menu item says who it is for with an ``audience``
attribute; a role receives the permissions of its audiences. ``sync_roles`` only adds:
what staff grant on the 角色列表 screen stays (see the README's roles section).
"""
from __future__ import annotations

from typing import Any

from flask_appbuilder.security.sqla.models import PermissionView

ROLE_ADMIN = "管理员"
ROLE_REVIEWER = "审核人员"
ROLE_EXPERT = "专家"
ROLE_AUDITOR = "审计员"

# audience → roles that get it. The admin role receives every permission except the
# expert's own screens (they need an expert record: a staff account got a 404 there).
AUDIENCE_ROLES: dict[str, tuple[str, ...]] = {
    "staff": (ROLE_REVIEWER,),
    "expert": (ROLE_EXPERT,),
    "audit": (ROLE_AUDITOR,),
    "everyone": (ROLE_REVIEWER, ROLE_EXPERT, ROLE_AUDITOR),
    # read-only screens for staff that auditors may see too (the 首页's statistics)
    "staff_and_audit": (ROLE_REVIEWER, ROLE_AUDITOR),
}
# FAB's name of the anonymous visitors' role, before config.AUTH_ROLE_PUBLIC named it.
FAB_PUBLIC_ROLE = "Public"
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


def expert_only_names(appbuilder: Any) -> set[tuple[str, str]]:
    """(permission, view or menu name) pairs of the expert's own screens and menu items
    (audience "expert"), which no staff role holds."""
    names: set[tuple[str, str]] = set()
    for view in appbuilder.baseviews:
        if _audience_of(view) == "expert":
            names.update((perm, view.class_permission_name) for perm in view.base_permissions or [])
    for category in appbuilder.menu.get_list():
        items = [item for item in (category.childs or [category]) if item.name != "-"]
        expert_items = [item for item in items if _audience_of(item.baseview) == "expert"]
        names.update(("menu_access", item.name) for item in expert_items)
        if category.childs and expert_items and len(expert_items) == len(items):
            names.add(("menu_access", category.name))
    return names


def sync_roles(appbuilder: Any) -> dict[str, int]:
    """Create every permission, remove those of views and menus that are gone (FAB's
    cleanup), and add to each role the defaults it is missing. Nothing a role holds is
    taken away, except that no staff role keeps the expert's own screens. Returns each
    role's number of permissions. Flushes; the caller commits (FAB's own calls here
    commit what they create)."""
    sm = appbuilder.sm
    # FAB grants each new permission to the admin role as it creates it: the role
    # must exist first, or the grant fails (and FAB only logs it).
    sm.add_role(ROLE_ADMIN)
    appbuilder.add_permissions(update_perms=True)
    # permissions on views or menus no longer in the code go, from every role
    appbuilder.security_cleanup()
    session = sm.session
    all_pvs = session.query(PermissionView).all()
    by_key = {(pv.permission.name, pv.view_menu.name): pv for pv in all_pvs}
    expert_only = expert_only_names(appbuilder)
    wanted = role_permission_names(appbuilder)
    wanted[ROLE_ADMIN] = set(by_key) - expert_only
    counts: dict[str, int] = {}
    for role_name in (ROLE_ADMIN, *sorted(set(wanted) - {ROLE_ADMIN})):
        role = sm.find_role(role_name) or sm.add_role(role_name)
        held = set(role.permissions)
        role.permissions.extend(by_key[k] for k in sorted(wanted[role_name])
                                if k in by_key and by_key[k] not in held)
        if role_name in STAFF_ROLES:
            # FAB hands the admin role every permission it creates, the expert's included
            role.permissions = [pv for pv in role.permissions
                                if (pv.permission.name, pv.view_menu.name) not in expert_only]
        counts[role_name] = len(role.permissions)
    old_public = sm.find_role(FAB_PUBLIC_ROLE)
    if sm.auth_role_public != FAB_PUBLIC_ROLE and old_public is not None:
        # shown on 角色列表: the visitors' role under its Chinese name, once
        if sm.find_role(sm.auth_role_public) is None:
            old_public.name = sm.auth_role_public
        elif not old_public.user and not old_public.permissions:
            session.delete(old_public)
    sm.add_role(sm.auth_role_public)
    session.flush()  # the command (flask init / sync-roles) commits
    return counts
