"""Named permissions and the one decorator that checks them.

Roles grant sets of permission names (`area:object:action`). Views declare what they need; whether
*this* object belongs to the caller's cooperative is checked in the services, which always filter
by the caller's cooperative id.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import TypeVar

from flask import abort
from flask_login import current_user

from kernel.extensions import login_manager

F = TypeVar("F", bound=Callable)


class Role(StrEnum):
    ALLIANCE_ADMIN = "alliance_admin"
    MEMBER = "member"  # belongs to exactly one cooperative
    PARTNER = "partner"  # staff of the postal partner

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.ALLIANCE_ADMIN: frozenset(
        {
            "alliance:cooperative:read",
            "alliance:cooperative:write",
            "alliance:console:read",
            "alliance:tariff:read",
            "alliance:tariff:write",
            "alliance:work:retry",
            "alliance:audit:read",
            "trace:batch:recall",
        }
    ),
    Role.MEMBER: frozenset(
        {
            "coop:product:read",
            "coop:product:write",
            "coop:batch:write",
            "coop:order:read",
            "coop:order:write",
            "trace:batch:recall",
        }
    ),
    Role.PARTNER: frozenset({"post:shipment:read", "post:shipment:write"}),
}


# Granted on top of the member role to a cooperative's own administrator (User.is_coop_admin).
# The activity log names invitees' e-mails and phones: administrators only, not every member.
COOP_ADMIN_PERMISSIONS: frozenset[str] = frozenset({"coop:member:invite", "coop:audit:read"})


def permissions_for(role: str, *, coop_admin: bool = False) -> frozenset[str]:
    granted = ROLE_PERMISSIONS.get(role, frozenset())
    return granted | COOP_ADMIN_PERMISSIONS if coop_admin and role == Role.MEMBER else granted


def requires(permission: str) -> Callable[[F], F]:
    """Login required, then the named permission; anonymous users go to the login page."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if permission not in current_user.permissions:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
