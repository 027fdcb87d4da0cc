"""EPCIS 2.0 capture: a cooperative's other software sends events; each becomes a signed
credential in the chain of the batch it names. All or nothing: one bad event rejects the document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from traceability import epcis, gs1
from traceability.models import Credential
from traceability.schemas import BatchRef, IssuerRef
from traceability.services import CredentialService


class CaptureRejected(Exception):
    def __init__(self, problems: list[epcis.CaptureProblem], status: int = 400, title: str = "Capture rejected") -> None:
        super().__init__(title)
        self.problems = problems
        self.status = status
        self.title = title


@dataclass(frozen=True)
class CaptureResult:
    event_ids: list[str]
    credential_hashes: list[str]


@lru_cache(maxsize=4)
def load_schema(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _lgtin_to_link(urn: str) -> gs1.DigitalLink | None:
    # urn:epc:class:lgtin:<company prefix>.<indicator + item reference>.<lot>
    body = urn.removeprefix("urn:epc:class:lgtin:")
    try:
        prefix, item, lot = body.split(".", 2)
        digits = item[0] + prefix + item[1:]
        return gs1.DigitalLink(gtin=digits + str(gs1.gtin_check_digit(digits)), lot=gs1.validate_lot(lot))
    except (ValueError, gs1.GS1Error, IndexError):
        return None


@lru_cache(maxsize=1024)
def _batch_from_identifier(candidate: str) -> BatchRef | None:
    link = _lgtin_to_link(candidate) if candidate.startswith("urn:epc:class:lgtin:") else None
    if link is None:
        try:
            link = gs1.parse_digital_link_uri(candidate)
        except gs1.GS1Error:
            return None
    return BatchRef(link.gtin, link.lot) if link.lot else None


def batch_named_by(event: dict[str, Any]) -> BatchRef | None:
    """The batch an internal (DTE) event is about: its quantity elements, items or inputs."""
    candidates = [q.get("productId") for q in event.get("quantityList") or []]
    candidates += [i.get("id") for i in event.get("epcList") or []]
    candidates += [q.get("productId") for q in event.get("inputQuantityList") or []]
    candidates += [q.get("productId") for q in event.get("outputQuantityList") or []]
    for candidate in candidates:
        if isinstance(candidate, str):
            batch = _batch_from_identifier(candidate)
            if batch is not None:
                return batch
    return None


class CaptureService:
    def __init__(self, session: Session, credentials: CredentialService, *, schema_path: str | None = None,
                 owns_gtin=None) -> None:
        self.session = session
        self.credentials = credentials
        self.schema_path = schema_path
        # Who may start a new record for a GTIN is the shop's knowledge (its products); without
        # this check one cooperative could open lots under another's GTIN.
        self.owns_gtin = owns_gtin or (lambda gtin: False)

    def _owner_did(self, batch: BatchRef) -> str | None:
        first = self.session.exec(
            select(Credential.issuer_kid).where(Credential.gtin == batch.gtin, Credential.lot == batch.lot, Credential.seq == 1)
        ).first()
        return first.split("#")[0] if first else None

    def capture(self, issuer: IssuerRef, document: Any) -> CaptureResult:
        schema = load_schema(self.schema_path) if self.schema_path else None
        problems = epcis.validate_capture(document, schema)
        if problems:
            raise CaptureRejected(problems)
        own_did = self.credentials.keys.active_key(issuer).kid.split("#")[0]
        owners: dict[BatchRef, str | None] = {}
        items, event_ids = [], []
        for index, raw in enumerate(document["epcisBody"]["eventList"]):
            pointer = f"/epcisBody/eventList/{index}"
            try:
                event = epcis.from_epcis_event(raw)
            except (ValueError, KeyError, TypeError) as error:
                problems.append(epcis.CaptureProblem(pointer, f"cannot be read: {error}"))
                continue
            batch = batch_named_by(event)
            if batch is None:
                problems.append(epcis.CaptureProblem(pointer, "names no batch: give a GS1 Digital Link or LGTIN with a lot"))
                continue
            if batch not in owners:
                owners[batch] = self._owner_did(batch)
            owner = owners[batch]
            if owner is None and event.get("processType") != "harvest":
                problems.append(epcis.CaptureProblem(pointer, f"batch {batch.gtin}/{batch.lot} is unknown; start it with a commissioning (ADD) event"))
                continue
            if owner is None and not self.owns_gtin(batch.gtin):
                problems.append(epcis.CaptureProblem(pointer, f"GTIN {batch.gtin} belongs to another cooperative"))
                continue
            if owner not in (None, own_did):
                problems.append(epcis.CaptureProblem(pointer, f"batch {batch.gtin}/{batch.lot} belongs to another cooperative"))
                continue
            owners[batch] = own_did
            items.append((batch, str(event.get("processType") or "observation"), event))
            event_ids.append(str(raw.get("eventID") or event.get("id")))
        if problems:
            status = 403 if all("another cooperative" in p.message for p in problems) else 400
            raise CaptureRejected(problems, status=status)
        issued = self.credentials.issue_many(issuer, items)
        return CaptureResult(event_ids, [c["sha256"] for c in issued])
