"""Account data passed between layers (never the table model)."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_login import UserMixin


@dataclass(frozen=True)
class CurrentUser(UserMixin):
    """What a request knows about the person logged in."""

    id: int
    session_id: str
    username: str
    display_name: str
    role: str
    cooperative_id: int | None
    partner_id: int | None
    permissions: frozenset[str] = field(default_factory=frozenset)

    def get_id(self) -> str:
        # The stored id includes a fingerprint of the password hash, so changing the password
        # ends every other session of that account.
        return self.session_id
