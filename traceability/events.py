"""Traceability events, shaped as UNTP Digital Traceability Events (which follow EPCIS 2.0 / CBV 2.0).

An event says what (the batch's GS1 Digital Link, with quantities), when (event time with its
offset), where (the cooperative's location) and why (CBV business step and disposition). Each kind
of event the cooperatives record maps to one EPCIS event type and CBV vocabulary:

| kind       | EPCIS type          | action  | business step          | disposition        |
|------------|---------------------|---------|------------------------|--------------------|
| harvest    | ObjectEvent         | add     | commissioning          | active             |
| diary      | ObjectEvent         | observe | (nongsan) cultivating  | active             |
| processing | TransformationEvent | —       | commissioning          | active             |
| packing    | ObjectEvent         | observe | packing                | in_progress        |
| inspection | ObjectEvent         | observe | inspecting             | conformant / non_conformant |
| shipping   | ObjectEvent         | observe | shipping               | in_transit         |
| receiving  | ObjectEvent         | observe | receiving              | in_progress        |
| recall     | ObjectEvent         | observe | holding                | recalled           |

The rules that only look at events (pre-harvest intervals, mass balance) live here too, as pure
functions over verified payloads, so the trace page, the back office and the tests agree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

BIZ_STEP = "https://ref.gs1.org/cbv/BizStep-"
DISPOSITION = "https://ref.gs1.org/cbv/Disp-"
# CBV has no step for tending a crop; a custom URI is allowed by EPCIS 2.0 and UNTP alike.
CULTIVATING_STEP = "https://nongsan.vn/voc/BizStep-cultivating"
KILOGRAM = "KGM"  # UN/ECE Recommendation 20
LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


class EventKind(StrEnum):
    HARVEST = "harvest"
    DIARY = "diary"
    PROCESSING = "processing"
    PACKING = "packing"
    INSPECTION = "inspection"
    SHIPPING = "shipping"
    RECEIVING = "receiving"
    RECALL = "recall"


@dataclass(frozen=True)
class KindSpec:
    epcis_type: str
    action: str | None
    biz_step: str
    disposition: str


SPECS: dict[str, KindSpec] = {
    EventKind.HARVEST: KindSpec("ObjectEvent", "add", BIZ_STEP + "commissioning", DISPOSITION + "active"),
    EventKind.DIARY: KindSpec("ObjectEvent", "observe", CULTIVATING_STEP, DISPOSITION + "active"),
    EventKind.PROCESSING: KindSpec("TransformationEvent", None, BIZ_STEP + "commissioning", DISPOSITION + "active"),
    EventKind.PACKING: KindSpec("ObjectEvent", "observe", BIZ_STEP + "packing", DISPOSITION + "in_progress"),
    EventKind.INSPECTION: KindSpec("ObjectEvent", "observe", BIZ_STEP + "inspecting", DISPOSITION + "conformant"),
    EventKind.SHIPPING: KindSpec("ObjectEvent", "observe", BIZ_STEP + "shipping", DISPOSITION + "in_transit"),
    EventKind.RECEIVING: KindSpec("ObjectEvent", "observe", BIZ_STEP + "receiving", DISPOSITION + "in_progress"),
    EventKind.RECALL: KindSpec("ObjectEvent", "observe", BIZ_STEP + "holding", DISPOSITION + "recalled"),
}


def iso_with_offset(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return moment.replace(microsecond=0).isoformat()


def offset_of(moment: datetime) -> str:
    text = moment.strftime("%z")  # +0700
    return f"{text[:3]}:{text[3:]}"


def quantity(product_id: str, product_name: str, kilograms: float) -> dict[str, Any]:
    return {
        "type": ["QuantityElement"],
        "productId": product_id,
        "productName": product_name,
        "quantity": round(float(kilograms), 3),
        "uom": KILOGRAM,
    }


def item(unit_uri: str, product_name: str) -> dict[str, Any]:
    return {"type": ["Item"], "id": unit_uri, "name": product_name}


def build_event(
    kind: str,
    *,
    event_time: datetime,
    location: dict[str, Any],
    quantities: list[dict[str, Any]] | None = None,
    items: list[dict[str, Any]] | None = None,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    ilmd: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    disposition: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One UNTP DTE event. `location` needs at least an `id` (a URI) and a `name`."""
    spec = SPECS[EventKind(kind)]
    event: dict[str, Any] = {
        "type": [spec.epcis_type, "Event"],
        "id": event_id or f"urn:uuid:{uuid.uuid4()}",
        "processType": str(kind),
        "eventTime": iso_with_offset(event_time),
        "eventTimeZoneOffset": offset_of(event_time),
        "bizStep": spec.biz_step,
        "disposition": disposition or spec.disposition,
        "bizLocation": location["id"],
        "location": location,
    }
    if spec.action:
        event["action"] = spec.action
    if spec.epcis_type == "TransformationEvent":
        event["inputQuantityList"] = inputs or []
        event["outputQuantityList"] = outputs or []
    else:
        if quantities:
            event["quantityList"] = quantities
        if items:
            event["epcList"] = items
    if ilmd:
        event["ilmd"] = ilmd
    if details:
        event["details"] = details
    return event


# -- rules over a batch's events -------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """Something a person should look at; not a verification failure (the record is authentic)."""

    code: str  # "inside_pre_harvest_interval", "mass_balance"
    message: str
    message_vi: str
    event_id: str | None = None


def _event_date(event: dict[str, Any]) -> date | None:
    try:
        return datetime.fromisoformat(str(event.get("eventTime"))).date()
    except ValueError:
        return None


def harvest_date_of(events: list[dict[str, Any]]) -> date | None:
    for event in events:
        if event.get("processType") == EventKind.HARVEST:
            text = (event.get("ilmd") or {}).get("harvestDate")
            try:
                return date.fromisoformat(text) if text else _event_date(event)
            except ValueError:
                return _event_date(event)
    return None


def pre_harvest_findings(events: list[dict[str, Any]]) -> list[Finding]:
    """A pesticide or fertiliser applied fewer days before harvest than its pre-harvest interval."""
    harvest = harvest_date_of(events)
    if harvest is None:
        return []
    findings = []
    for event in events:
        if event.get("processType") != EventKind.DIARY:
            continue
        details = event.get("details") or {}
        days = details.get("preHarvestIntervalDays")
        applied = _event_date(event)
        if not isinstance(days, int) or applied is None or days <= 0:
            continue
        safe_from = applied + timedelta(days=days)
        if harvest < safe_from:
            name = details.get("input", "?")
            findings.append(Finding(
                "inside_pre_harvest_interval",
                f"Harvest on {harvest:%d/%m/%Y} is inside the {days}-day pre-harvest interval of {name} applied on {applied:%d/%m/%Y}.",
                f"Thu hoạch ngày {harvest:%d/%m/%Y} nằm trong thời gian cách ly {days} ngày của {name} đã dùng ngày {applied:%d/%m/%Y}.",
                event.get("id"),
            ))
    return findings


def _kilograms(elements: list[dict[str, Any]] | None) -> float:
    return sum(float(e.get("quantity") or 0) for e in (elements or []) if e.get("uom", KILOGRAM) == KILOGRAM)


def mass_balance_findings(events: list[dict[str, Any]], harvested_kg: float | None = None) -> list[Finding]:
    """More kilograms out than in: within one processing step, and across the batch's steps."""
    findings = []
    consumed = 0.0
    for event in events:
        if event.get("processType") != EventKind.PROCESSING:
            continue
        kg_in, kg_out = _kilograms(event.get("inputQuantityList")), _kilograms(event.get("outputQuantityList"))
        consumed += kg_in
        if kg_out > kg_in + 1e-9:
            findings.append(Finding(
                "mass_balance",
                f"Processing produced {kg_out:g} kg from {kg_in:g} kg of input.",
                f"Chế biến ra {kg_out:g} kg từ {kg_in:g} kg nguyên liệu.",
                event.get("id"),
            ))
    if harvested_kg is not None and consumed > harvested_kg + 1e-9:
        findings.append(Finding(
            "mass_balance",
            f"Processing used {consumed:g} kg but only {harvested_kg:g} kg were harvested.",
            f"Chế biến dùng {consumed:g} kg nhưng chỉ thu hoạch {harvested_kg:g} kg.",
        ))
    return findings
