"""Accounts: password hashing and authentication."""

from __future__ import annotations

import hashlib
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_babel import gettext
from sqlmodel import Session, select

from shop.accounts.models import Role, User
from kernel.permissions import permissions_for
from shop.accounts.schemas import CurrentUser
from kernel.errors import Forbidden, NotFound, ServiceError
from kernel.timeutil import utcnow

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login for an unknown user like that of a known one.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

MIN_PASSWORD_LENGTH = 10
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,79}$")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def session_id_for(user: User) -> str:
    fingerprint = hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]
    return f"{user.id}:{fingerprint}"


def to_current_user(user: User) -> CurrentUser:
    assert user.id is not None
    return CurrentUser(
        id=user.id,
        session_id=session_id_for(user),
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        cooperative_id=user.cooperative_id,
        partner_id=user.partner_id,
        permissions=permissions_for(user.role, coop_admin=user.is_coop_admin),
    )


class AccountService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create_user(
        self,
        *,
        username: str,
        password: str,
        display_name: str,
        role: Role,
        cooperative_id: int | None = None,
        partner_id: int | None = None,
        email: str | None = None,
        is_coop_admin: bool = False,
    ) -> User:
        username = username.strip().lower()
        if not username:
            raise ServiceError(gettext("Enter a username."), field="username")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ServiceError(
                gettext("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
                field="password",
            )
        if role == Role.MEMBER and cooperative_id is None:
            raise ServiceError(gettext("A member must belong to a cooperative."), field="cooperative_id")
        if role == Role.PARTNER and partner_id is None:
            raise ServiceError(gettext("Partner staff must belong to a partner."), field="partner_id")
        if self.session.exec(select(User).where(User.username == username)).first():
            raise ServiceError(gettext("This username is already taken."), field="username", status=409)
        user = User(
            username=username,
            display_name=display_name,
            password_hash=hash_password(password),
            role=role,
            cooperative_id=cooperative_id if role == Role.MEMBER else None,
            partner_id=partner_id if role == Role.PARTNER else None,
            email=email,
            is_coop_admin=is_coop_admin and role == Role.MEMBER,
        )
        self.session.add(user)
        self.session.flush()
        return user

    # -- a cooperative's administrator managing its members --------------------------------------
    def _member_of(self, cooperative_id: int, user_id: int) -> User:
        user = self.session.exec(select(User).where(User.id == user_id, User.cooperative_id == cooperative_id)).first()
        if user is None:
            raise NotFound(gettext("Unknown member."), field="user_id")
        return user

    def _managed_member(self, cooperative_id: int, user_id: int, by_user_id: int) -> User:
        """A member another administrator may manage: not a fellow administrator, or one of them
        could lock out or take over the other. The alliance handles administrators' accounts."""
        user = self._member_of(cooperative_id, user_id)
        if user.id != by_user_id and user.is_coop_admin:
            raise Forbidden(gettext("%(name)s is also an administrator of this cooperative; only the alliance can change "
                                    "their password or switch their account off.", name=user.username), field="user_id")
        return user

    def set_member_password(self, cooperative_id: int, user_id: int, password: str, *, by_user_id: int) -> User:
        """A new password for a member who lost theirs; their other sessions end with it."""
        from kernel.audit.services import AuditLog

        user = self._managed_member(cooperative_id, user_id, by_user_id)
        if user.id == by_user_id:
            raise ServiceError(gettext("Change your own password from your account, not here."), field="password")
        if len(password or "") < MIN_PASSWORD_LENGTH:
            raise ServiceError(gettext("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
                               field="password")
        user.password_hash = hash_password(password)
        self.session.flush()
        # Never the hashes: only that it changed, and that the old sessions no longer work.
        AuditLog(self.session).record("user.password_change", "user", user.id, before={"username": user.username},
                                      after={"username": user.username, "password": "changed", "sessions": "ended"},
                                      cooperative_id=cooperative_id)
        return user

    def set_member_active(self, cooperative_id: int, user_id: int, active: bool, *, by_user_id: int) -> User:
        from kernel.audit.services import AuditLog

        user = self._managed_member(cooperative_id, user_id, by_user_id)
        if user.id == by_user_id:
            raise ServiceError(gettext("You cannot switch off your own account."), field="user_id", status=409)
        if user.is_active != active:
            before = {"is_active": user.is_active}
            user.is_active = active
            self.session.flush()
            AuditLog(self.session).record("user.activate" if active else "user.deactivate", "user", user.id, before=before,
                                          after={"is_active": active, "username": user.username}, cooperative_id=cooperative_id)
        return user

    def authenticate(self, username: str, password: str) -> CurrentUser | None:
        user = self.session.exec(select(User).where(User.username == username.strip().lower())).first()
        if user is None or not user.is_active:
            try:
                _hasher.verify(_DUMMY_HASH, password)
            except VerificationError:
                pass
            return None
        try:
            _hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = utcnow()
        self.session.flush()
        return to_current_user(user)

    def load(self, session_id: str) -> CurrentUser | None:
        user_id, _, _fingerprint = session_id.partition(":")
        if not user_id.isdigit():
            return None
        user = self.session.get(User, int(user_id))
        if user is None or not user.is_active or session_id_for(user) != session_id:
            return None
        return to_current_user(user)
