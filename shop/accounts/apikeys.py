"""API keys: `Authorization: Bearer ns_<key id>_<secret>`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import request
from flask_babel import gettext
from sqlmodel import Session, select

from shop.accounts.models import ApiKey
from kernel.audit.services import AuditLog
from kernel.errors import ServiceError
from kernel.timeutil import utcnow

PREFIX = "ns"


@dataclass(frozen=True)
class ApiCaller:
    key_id: str
    owner_kind: str
    owner_id: int


class ApiKeyService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, owner_kind: str, owner_id: int, name: str, created_by: int | None = None) -> tuple[ApiKey, str]:
        name = (name or "").strip()
        if not name:
            raise ServiceError(gettext("Give the key a name, e.g. the software that will use it."), field="name")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(key_id=key_id, secret_sha256=hashlib.sha256(secret.encode()).hexdigest(), name=name[:120],
                     owner_kind=owner_kind, owner_id=owner_id, created_by=created_by)
        self.session.add(key)
        self.session.flush()
        AuditLog(self.session).record("apikey.create", "api_key", key_id, after={"name": key.name, "owner": f"{owner_kind}:{owner_id}"},
                                      cooperative_id=owner_id if owner_kind == "cooperative" else None)
        return key, f"{PREFIX}_{key_id}_{secret}"

    def list_for(self, owner_kind: str, owner_id: int) -> list[ApiKey]:
        return list(self.session.exec(select(ApiKey).where(ApiKey.owner_kind == owner_kind, ApiKey.owner_id == owner_id).order_by(ApiKey.id)))

    def revoke(self, owner_kind: str, owner_id: int, key_id: str) -> None:
        key = self.session.exec(select(ApiKey).where(ApiKey.key_id == key_id, ApiKey.owner_kind == owner_kind,
                                                     ApiKey.owner_id == owner_id)).first()
        if key is None:
            raise ServiceError(gettext("Unknown key."), field="key_id", status=404)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            AuditLog(self.session).record("apikey.revoke", "api_key", key_id, before={"revoked": False},
                                          after={"revoked": True, "name": key.name},
                                          cooperative_id=owner_id if owner_kind == "cooperative" else None)
        self.session.flush()

    def authenticate(self, token: str) -> ApiCaller | None:
        parts = (token or "").split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        key = self.session.exec(select(ApiKey).where(ApiKey.key_id == parts[1])).first()
        if key is None or key.revoked_at is not None:
            return None
        if not hmac.compare_digest(key.secret_sha256, hashlib.sha256(parts[2].encode()).hexdigest()):
            return None
        key.last_used_at = utcnow()
        return ApiCaller(key.key_id, key.owner_kind, key.owner_id)


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
