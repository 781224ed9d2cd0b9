"""Roles are Django groups (created by migration 0002): viewer reads, operator also resyncs
and merges, admin also changes settings. Each role includes the ones before it."""
from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)
# What each role adds, in the words of the 403 page (and the README's Roles section).
ABILITIES = {VIEWER: "read every page", OPERATOR: "sync now, resync contacts and merge duplicates",
             ADMIN: "change the sync settings and test the connections"}


class RoleRequired(PermissionDenied):
    """Refused for want of a role: the 403 page names the role and what it allows."""

    def __init__(self, role: str):
        super().__init__(f"This needs the {role} role.")
        self.role = role


def role_of(user) -> str | None:
    """The highest role a user holds, or None. Cached on the user object for the request."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    if not hasattr(user, "_crmsync_role"):
        names = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._crmsync_role = next((r for r in reversed(ROLES) if r in names), None)
    return user._crmsync_role


def has_role(user, role: str) -> bool:
    held = role_of(user)
    return held is not None and ROLES.index(held) >= ROLES.index(role)


def role_required(role: str):
    """View decorator: 403 unless the user holds `role` (or a higher one)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not has_role(request.user, role):
                raise RoleRequired(role)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
