"""Plain data passed in and out of the traceability services (never the table models)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class IssuerRef:
    """Who signs: the owner of a signing key (the alliance, a cooperative or a partner)."""

    kind: str
    owner_id: int | None
    name: str


@dataclass(frozen=True)
class BatchRef:
    gtin: str
    lot: str


@dataclass
class Check:
    """One verification step: `reason` names the failure when `ok` is false."""

    name: str
    ok: bool
    reason: str | None = None
    detail: str | None = None


@dataclass
class CredentialResult:
    seq: int
    sha256: str
    ok: bool
    checks: list[Check]
    payload: dict[str, Any] | None = None  # only filled when the signature verified
    # Logged after the latest checkpoint: accepted until the next checkpoint includes it.
    pending: bool = False


@dataclass
class BatchVerification:
    gtin: str
    lot: str
    ok: bool
    credentials: list[CredentialResult] = field(default_factory=list)
    problems: list[Check] = field(default_factory=list)

    @property
    def pending(self) -> list[int]:
        """Records that are newer than the latest checkpoint (accepted, not yet provably logged)."""
        return [c.seq for c in self.credentials if c.pending]

    @property
    def failures(self) -> list[str]:
        names = [p.reason or p.name for p in self.problems if not p.ok]
        for credential in self.credentials:
            names += [f"{credential.seq}:{c.reason or c.name}" for c in credential.checks if not c.ok]
        return names

    def as_dict(self) -> dict[str, Any]:
        return {
            "gtin": self.gtin,
            "lot": self.lot,
            "verified": self.ok,
            "failures": self.failures,
            "pending": self.pending,
            "credentials": [
                {
                    "seq": c.seq,
                    "sha256": c.sha256,
                    "verified": c.ok,
                    "pending": c.pending,
                    "checks": [{"name": k.name, "ok": k.ok, "reason": k.reason} | ({"detail": k.detail} if k.detail else {})
                               for k in c.checks],
                }
                for c in self.credentials
            ],
            "problems": [{"name": p.name, "ok": p.ok, "reason": p.reason, "detail": p.detail} for p in self.problems],
        }
