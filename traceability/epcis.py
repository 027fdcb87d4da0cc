"""EPCIS 2.0 JSON-LD for nongsan: export, capture validation and import.

Inside nongsan an event is a UNTP Digital Traceability Event (see :mod:`traceability.events`).
Partners and auditors speak GS1 EPCIS 2.0, so this module is the border crossing:

* :func:`to_epcis_event` / :func:`epcis_document` turn internal events into an ``EPCISDocument``
  that validates against the official EPCIS JSON schema;
* :func:`validate_capture` checks a document POSTed by a cooperative's other software, against the
  official schema when one is given and always against nongsan's own rules, and reports each
  problem with a JSON pointer (RFC 6901) so the sender can find it;
* :func:`problem_json` wraps those problems in an RFC 7807 problem document;
* :func:`from_epcis_event` brings a captured event back into nongsan's internal shape.

Everything here is pure (no I/O, no database) so the web layer, workers and tests share it.  The
official schema is *not* bundled: the caller loads it and passes it in.

Mapping notes, the places where the two models do not line up one to one:

* CBV business steps and dispositions are full URIs internally
  (``https://ref.gs1.org/cbv/BizStep-commissioning``).  EPCIS JSON wants the bare CBV term
  (``commissioning``) for standard values, and its schema *rejects* the legacy
  ``urn:epcglobal:cbv:`` form, so standard values are shortened; nongsan's own vocabulary
  (``https://nongsan.vn/voc/BizStep-cultivating``) stays a full URI, as EPCIS allows.
* Everything EPCIS has no field for travels as user extensions in the ``nongsan:`` namespace
  (``https://nongsan.vn/voc/``): the free ``details``, the location's name and address, and the
  internal ``processType`` so that a round trip does not have to guess it back from the bizStep.
* EPCIS only allows ILMD on an ObjectEvent whose action is ADD (instance/lot master data exists
  only where the lot is born).  Should an internal OBSERVE/DELETE event carry ``ilmd``, it travels
  as the extension ``nongsan:ilmd`` instead, so nothing is lost and the event stays schema-valid.
* Product names (``productName``) and item names have no place in an EPCIS quantity element
  (the schema forbids extra keys there) and are not exported; they belong to master data.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Iterable
from urllib.parse import quote, unquote

from traceability.events import BIZ_STEP, CULTIVATING_STEP, DISPOSITION, EventKind

__all__ = [
    "CaptureProblem",
    "EPCIS_CONTEXT",
    "EPCIS_EVENT_TYPES",
    "MAX_CAPTURE_EVENTS",
    "NONGSAN_CONTEXT",
    "NONGSAN_NS",
    "NONGSAN_PREFIX",
    "epcis_document",
    "from_epcis_event",
    "problem_json",
    "to_epcis_event",
    "validate_capture",
]

EPCIS_CONTEXT: Final = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
NONGSAN_PREFIX: Final = "nongsan"
NONGSAN_NS: Final = "https://nongsan.vn/voc/"
# The JSON-LD term definition that makes "nongsan:harvestDate" expand to a full IRI.
NONGSAN_CONTEXT: Final[dict[str, str]] = {NONGSAN_PREFIX: NONGSAN_NS}
DOCUMENT_CONTEXT: Final[list[Any]] = [EPCIS_CONTEXT, NONGSAN_CONTEXT]
SCHEMA_VERSION: Final = "2.0"

EPCIS_EVENT_TYPES: Final = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)
# Every event type but TransformationEvent has a mandatory action (EPCIS 2.0 §7.4).
_ACTION_REQUIRED: Final = frozenset(EPCIS_EVENT_TYPES) - {"TransformationEvent"}
_ACTIONS: Final = frozenset({"ADD", "OBSERVE", "DELETE"})
_QUANTITY_LISTS: Final = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")

# Capture limit: a cooperative's software sends a day's or a batch's events, never millions.  Above
# this we refuse before running the (comparatively slow) schema validation over the whole list.
MAX_CAPTURE_EVENTS: Final = 10_000

# Standard CBV 2.0 terms.  The official schema accepts exactly these bare words (anything else must
# be a URI outside the CBV namespaces); a test checks the lists against the schema and the context.
CBV_BIZ_STEPS: Final = frozenset({
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
    "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
    "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
    "installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
    "repackaging", "repairing", "replacing", "reserving", "retail_selling", "sampling",
    "sensor_reporting", "shipping", "staging_outbound", "stock_taking", "stocking", "storing",
    "transporting", "unloading", "unpacking", "void_shipping",
})
CBV_DISPOSITIONS: Final = frozenset({
    "active", "available", "completeness_inferred", "completeness_verified", "conformant",
    "container_closed", "container_open", "damaged", "destroyed", "dispensed", "disposed",
    "encoded", "expired", "in_progress", "in_transit", "inactive", "mismatch_class",
    "mismatch_instance", "mismatch_quantity", "needs_replacement", "no_pedigree_match",
    "non_conformant", "non_sellable_other", "partially_dispensed", "recalled", "reserved",
    "retail_sold", "returned", "sellable_accessible", "sellable_not_accessible", "stolen",
    "unavailable", "unknown",
})


@dataclass(frozen=True)
class _Vocabulary:
    """One CBV vocabulary (business steps or dispositions) and every spelling of its URIs."""

    terms: frozenset[str]
    canonical: str  # https://ref.gs1.org/cbv/BizStep-
    aliases: tuple[str, ...]  # other prefixes seen in the wild for the same terms

    def shorten(self, value: str) -> str:
        """Bare CBV term for a standard value; any other URI unchanged."""
        for prefix in (self.canonical, *self.aliases):
            # Case-insensitive because the legacy URNs were written both ways (bizstep / BizStep).
            if value.lower().startswith(prefix.lower()):
                term = value[len(prefix):]
                if term in self.terms:
                    return term
                if prefix.startswith(("urn:epcglobal:cbv:", "http://ns.gs1.org", "https://ns.gs1.org")):
                    # The schema forbids these namespaces for anything but standard terms, so a
                    # non-standard term there cannot be exported faithfully: say so.
                    raise ValueError(f"{value!r} is not a CBV 2.0 term")
                return value
        return value

    def expand(self, value: str) -> str:
        """Full ref.gs1.org URI for a bare CBV term (or CBV CURIE / legacy URN); others unchanged."""
        for prefix in self.aliases:
            if value.lower().startswith(prefix.lower()) and value[len(prefix):] in self.terms:
                return self.canonical + value[len(prefix):]
        if value in self.terms:
            return self.canonical + value
        return value


_BIZ_STEPS = _Vocabulary(
    CBV_BIZ_STEPS,
    BIZ_STEP,
    ("http://ref.gs1.org/cbv/BizStep-", "cbv:BizStep-", "urn:epcglobal:cbv:bizstep:",
     "https://ns.gs1.org/cbv/BizStep-", "http://ns.gs1.org/cbv/BizStep-"),
)
_DISPOSITIONS = _Vocabulary(
    CBV_DISPOSITIONS,
    DISPOSITION,
    ("http://ref.gs1.org/cbv/Disp-", "cbv:Disp-", "urn:epcglobal:cbv:disp:",
     "https://ns.gs1.org/cbv/Disp-", "http://ns.gs1.org/cbv/Disp-"),
)

# Extension fields this module itself writes; a `details` key must not shadow them.
_EXT_PROCESS_TYPE: Final = f"{NONGSAN_PREFIX}:processType"
_EXT_LOCATION_NAME: Final = f"{NONGSAN_PREFIX}:locationName"
_EXT_LOCATION_ADDRESS: Final = f"{NONGSAN_PREFIX}:locationAddress"
_EXT_ILMD: Final = f"{NONGSAN_PREFIX}:ilmd"
_RESERVED_EXTENSIONS: Final = frozenset({_EXT_PROCESS_TYPE, _EXT_LOCATION_NAME, _EXT_LOCATION_ADDRESS, _EXT_ILMD})

# Characters that may stay as they are in the local part of a "nongsan:<key>" compact IRI.  The
# schema requires extension names (and ILMD keys) to be URIs, so a key like "phân bón" is
# percent-encoded on the way out and decoded on the way back in.
_KEY_SAFE: Final = "-._~!$&'()*+,;=@"


# -- export ------------------------------------------------------------------------------------------
def _nongsan_term(key: str) -> str:
    if ":" in key:
        # Already a compact IRI or a full URI (e.g. "gs1:bestBeforeDate"): leave it in its namespace.
        return key
    return f"{NONGSAN_PREFIX}:{quote(key, safe=_KEY_SAFE)}"


def _local_name(term: str) -> str | None:
    """The key behind a nongsan extension name, or None when the name is not in our namespace."""
    for prefix in (f"{NONGSAN_PREFIX}:", NONGSAN_NS):
        if term.startswith(prefix) and len(term) > len(prefix):
            return unquote(term[len(prefix):])
    return None


def _event_type(types: Any) -> str:
    candidates = [types] if isinstance(types, str) else list(types or [])
    for candidate in candidates:
        if candidate in EPCIS_EVENT_TYPES:
            return candidate
    raise ValueError(f"no EPCIS event type in {types!r}")


def _is_quantity(amount: Any) -> bool:
    # bool is an int in Python but not a number in JSON; NaN/Infinity slip through json.loads.
    return (isinstance(amount, (int, float)) and not isinstance(amount, bool)
            and math.isfinite(amount) and amount >= 0)


def _export_quantities(elements: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    exported = []
    for element in elements:
        # The schema closes quantity elements (additionalProperties: false): only these three keys.
        out: dict[str, Any] = {"epcClass": element["productId"]}
        amount = element.get("quantity")
        if amount is not None:
            if not _is_quantity(amount):
                raise ValueError(f"quantity of {element['productId']} must be a finite number >= 0, not {amount!r}")
            out["quantity"] = amount
            if element.get("uom"):
                out["uom"] = element["uom"]
        exported.append(out)
    return exported


def _export_epcs(items: Iterable[Any]) -> list[str]:
    # EPCIS treats an EPC list as a set (the schema says uniqueItems); keep the first of duplicates.
    seen: dict[str, None] = {}
    for entry in items:
        seen.setdefault(entry["id"] if isinstance(entry, dict) else str(entry), None)
    return list(seen)


def _event_body(dte_event: dict[str, Any]) -> dict[str, Any]:
    """The EPCIS event for one internal event, everything but eventID."""
    event_type = _event_type(dte_event.get("type"))
    if event_type not in ("ObjectEvent", "TransformationEvent"):
        raise ValueError(f"nongsan only exports ObjectEvent and TransformationEvent, not {event_type}")
    event_time = dte_event.get("eventTime")
    if not isinstance(event_time, str) or _parse_date_time(event_time) is None:
        raise ValueError(f"eventTime must be an ISO 8601 date-time with an offset, not {event_time!r}")
    offset = dte_event.get("eventTimeZoneOffset") or _offset_from_time(event_time)

    out: dict[str, Any] = {"type": event_type, "eventTime": event_time, "eventTimeZoneOffset": offset}

    if event_type == "ObjectEvent":
        action = str(dte_event.get("action") or "").upper()
        if action not in _ACTIONS:
            raise ValueError(f"an ObjectEvent needs action add, observe or delete, not {dte_event.get('action')!r}")
        out["action"] = action
        items = _export_epcs(dte_event.get("epcList") or [])
        quantities = _export_quantities(dte_event.get("quantityList") or [])
        # The schema wants at least one of epcList / quantityList on an ObjectEvent; an empty
        # epcList is allowed and is the honest way to say "no individual items".
        if items or not quantities:
            out["epcList"] = items
        if quantities:
            out["quantityList"] = quantities
    else:
        for field in ("inputEPCList", "outputEPCList"):
            if dte_event.get(field):
                out[field] = _export_epcs(dte_event[field])
        for field in ("inputQuantityList", "outputQuantityList"):
            if dte_event.get(field):
                out[field] = _export_quantities(dte_event[field])
        if dte_event.get("transformationID"):
            out["transformationID"] = dte_event["transformationID"]
        if not any(k in out for k in ("inputEPCList", "outputEPCList", "inputQuantityList",
                                      "outputQuantityList", "transformationID")):
            raise ValueError("a TransformationEvent needs inputs, outputs or a transformationID")

    if dte_event.get("bizStep"):
        out["bizStep"] = _BIZ_STEPS.shorten(dte_event["bizStep"])
    if dte_event.get("disposition"):
        out["disposition"] = _DISPOSITIONS.shorten(dte_event["disposition"])

    location = dte_event.get("location") or {}
    location_id = dte_event.get("bizLocation") or location.get("id")
    if location_id:
        out["bizLocation"] = {"id": location_id}

    ilmd = dte_event.get("ilmd")
    if ilmd:
        namespaced = {_nongsan_term(key): value for key, value in ilmd.items()}
        if event_type == "TransformationEvent" or out.get("action") == "ADD":
            out["ilmd"] = namespaced
        else:
            out[_EXT_ILMD] = namespaced  # see the module docstring: EPCIS forbids ILMD here

    if dte_event.get("processType"):
        out[_EXT_PROCESS_TYPE] = str(dte_event["processType"])
    if location.get("name"):
        out[_EXT_LOCATION_NAME] = location["name"]
    if location.get("address"):
        out[_EXT_LOCATION_ADDRESS] = location["address"]
    for key, value in (dte_event.get("details") or {}).items():
        term = _nongsan_term(key)
        if term in _RESERVED_EXTENSIONS or term in out:
            raise ValueError(f"details key {key!r} clashes with the extension field {term!r}")
        out[term] = value
    return out


def to_epcis_event(dte_event: dict[str, Any]) -> dict[str, Any]:
    """One internal (UNTP DTE) event as an EPCIS 2.0 JSON-LD event, identified by its event hash.

    Raises ValueError for events EPCIS cannot represent (no event time, missing action, a
    transformation with neither inputs nor outputs, ...): an export must not silently drop data.
    """
    # Imported here so this module loads even where the hash module is not yet deployed, and so the
    # import cost is paid only by callers that actually export.
    from traceability.eventhash import event_hash

    body = _event_body(dte_event)
    # The hash is over the event *without* eventID, with the namespace it is published under, so
    # the ID is reproducible by anyone holding the document (GS1 CBV 2.0 event hash ID).
    event_id = event_hash(body, dict(NONGSAN_CONTEXT))
    return {"type": body["type"], "eventID": event_id, **{k: v for k, v in body.items() if k != "type"}}


def _utc_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("creation_date must be timezone-aware")
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def epcis_document(
    dte_events: list[dict[str, Any]],
    *,
    creation_date: datetime,
    sender: str | None = None,
) -> dict[str, Any]:
    """A complete EPCISDocument holding the given internal events, in order.

    An empty list gives a schema-valid document with an empty eventList (a batch with nothing to
    tell yet); note that :func:`validate_capture` would refuse such a document as a capture.
    """
    document: dict[str, Any] = {
        "@context": [EPCIS_CONTEXT, dict(NONGSAN_CONTEXT)],
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": _utc_timestamp(creation_date),
    }
    if sender:
        document["sender"] = sender
    document["epcisBody"] = {"eventList": [to_epcis_event(event) for event in dte_events]}
    return document


# -- capture validation -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaptureProblem:
    """One thing wrong with a captured document: where (RFC 6901 JSON pointer) and what."""

    pointer: str
    message: str


def _pointer(parts: Iterable[Any]) -> str:
    # RFC 6901: "~" becomes "~0" and "/" becomes "~1"; the whole document is the empty pointer.
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


# RFC 3339 date-time (the profile of ISO 8601 that the EPCIS schema's "date-time" format means).
_DATE_TIME_RE: Final = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
_OFFSET_RE: Final = re.compile(r"^[+-]\d{2}:\d{2}$")


def _parse_date_time(text: str) -> datetime | None:
    """The moment for an RFC 3339 date-time *with* an offset (or Z); None for anything else."""
    match = _DATE_TIME_RE.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if match.group(8) is None:
        off_hours, off_minutes = int(match.group(10)), int(match.group(11))
        if off_hours > 23 or off_minutes > 59:
            return None
    try:
        # Leap seconds (":60") are legal in RFC 3339 but Python cannot hold them; clamp to check the rest.
        return datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return None


def _offset_from_time(event_time: str) -> str:
    match = _DATE_TIME_RE.match(event_time)
    if match is None or match.group(8):
        return "+00:00"
    return f"{match.group(9)}{match.group(10)}:{match.group(11)}"


def _offset_ok(text: str) -> bool:
    if not _OFFSET_RE.match(text):
        return False
    hours, minutes = int(text[1:3]), int(text[4:6])
    # Real offsets run from -12:00 to +14:00; the schema allows up to ±14:00.
    return minutes < 60 and (hours < 14 or (hours == 14 and minutes == 0))


# RFC 3986 absolute URI, used only when jsonschema has no "uri" checker of its own (it needs the
# optional rfc3987 package).  Without it "format": "uri" would be silently ignored and a partner
# could send "not a uri" as an EPC.
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_URI_RE: Final = re.compile(
    rf"^[A-Za-z][A-Za-z0-9+.\-]*:"
    rf"(?://(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?"
    rf"(?:\[[0-9A-Fa-f:.vV]+\]|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*)(?::\d*)?"
    rf"(?:/{_PCHAR}*)*"
    rf"|/?(?:{_PCHAR}+(?:/{_PCHAR}*)*)?)"
    rf"(?:\?(?:{_PCHAR}|[/?])*)?"
    rf"(?:#(?:{_PCHAR}|[/?])*)?$"
)


def _format_checker(validator_class: Any) -> Any:
    """The schema dialect's format checker, plus uri/date-time checks where jsonschema lacks them."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checkers = dict(validator_class.FORMAT_CHECKER.checkers)
    if "uri" not in checker.checkers:
        checker.checks("uri")(lambda value: not isinstance(value, str) or bool(_URI_RE.match(value)))
    if "date-time" not in checker.checkers:
        checker.checks("date-time")(lambda value: not isinstance(value, str) or _parse_date_time(value) is not None)
    return checker


def _short(text: str, limit: int = 300) -> str:
    # jsonschema messages quote the failing instance, which for a top-level error is the whole body.
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _schema_problems(document: Any, schema: dict[str, Any]) -> list[CaptureProblem]:
    from jsonschema import Draft201909Validator
    from jsonschema.validators import validator_for

    validator_class = validator_for(schema, default=Draft201909Validator)
    validator = validator_class(schema, format_checker=_format_checker(validator_class))
    problems = []
    for error in validator.iter_errors(document):
        parts = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            # Point at the missing member itself, not its parent: that is where the fix goes.
            missing = [name for name in error.validator_value if name not in error.instance]
            named = [name for name in missing if repr(name) in error.message]
            if named:
                parts.append(named[0])
        problems.append(CaptureProblem(_pointer(parts), _short(_schema_message(error))))
    return problems


def _schema_message(error: Any) -> str:
    """jsonschema's message, without a dump of a whole event and with a hint for anyOf/oneOf."""
    from jsonschema.exceptions import best_match

    message = _without_dump(error)
    if error.validator in ("anyOf", "oneOf") and error.context:
        closest = best_match(error.context)
        if closest is not None:
            where = _pointer(closest.relative_path)
            message += f" (closest: {where + ': ' if where else ''}{_without_dump(closest)})"
    return message


def _without_dump(error: Any) -> str:
    # "{'type': 'ObjectEvent', ... 40 lines ...} is not valid under any of the given schemas": the
    # pointer already says which value, and repeating it only buries the reason.
    dump = repr(error.instance)
    if isinstance(error.instance, (dict, list)) and error.message.startswith(dump):
        return ("this object" if isinstance(error.instance, dict) else "this array") + error.message[len(dump):]
    return error.message


def _event_problems(event: Any, at: list[Any]) -> list[CaptureProblem]:
    here = _pointer(at)
    if not isinstance(event, dict):
        return [CaptureProblem(here, "an event must be a JSON object")]
    problems = []

    event_type = event.get("type")
    if event_type not in EPCIS_EVENT_TYPES:
        problems.append(CaptureProblem(
            _pointer([*at, "type"]),
            f"event type must be one of {', '.join(EPCIS_EVENT_TYPES)}, not {event_type!r}"
            if "type" in event else "event type is required",
        ))

    if "eventTime" not in event:
        problems.append(CaptureProblem(_pointer([*at, "eventTime"]), "eventTime is required"))
    elif not isinstance(event["eventTime"], str) or _parse_date_time(event["eventTime"]) is None:
        problems.append(CaptureProblem(
            _pointer([*at, "eventTime"]),
            f"eventTime must be an ISO 8601 date-time with an offset, e.g. 2026-11-20T07:00:00+07:00, not {event['eventTime']!r}",
        ))

    if "eventTimeZoneOffset" not in event:
        problems.append(CaptureProblem(_pointer([*at, "eventTimeZoneOffset"]), "eventTimeZoneOffset is required"))
    elif not isinstance(event["eventTimeZoneOffset"], str) or not _offset_ok(event["eventTimeZoneOffset"]):
        problems.append(CaptureProblem(
            _pointer([*at, "eventTimeZoneOffset"]),
            f"eventTimeZoneOffset must look like +07:00 (between -14:00 and +14:00), not {event['eventTimeZoneOffset']!r}",
        ))

    if event_type in _ACTION_REQUIRED:
        if "action" not in event:
            problems.append(CaptureProblem(_pointer([*at, "action"]), f"action is required on a {event_type}"))
        elif event["action"] not in _ACTIONS:
            problems.append(CaptureProblem(
                _pointer([*at, "action"]),
                f"action must be ADD, OBSERVE or DELETE (upper case), not {event['action']!r}",
            ))

    for field in _QUANTITY_LISTS:
        if field not in event:
            continue
        elements = event[field]
        if not isinstance(elements, list):
            problems.append(CaptureProblem(_pointer([*at, field]), f"{field} must be a list"))
            continue
        for index, element in enumerate(elements):
            if not isinstance(element, dict):
                problems.append(CaptureProblem(_pointer([*at, field, index]), "a quantity element must be a JSON object"))
                continue
            if "quantity" not in element:
                continue  # optional in EPCIS: "some unknown amount of this class"
            amount = element["quantity"]
            if not _is_quantity(amount):
                problems.append(CaptureProblem(
                    _pointer([*at, field, index, "quantity"]),
                    f"quantity must be a number >= 0, not {amount!r}",
                ))
    return problems


def _nongsan_problems(document: Any) -> list[CaptureProblem]:
    if not isinstance(document, dict):
        return [CaptureProblem("", "the request body must be a JSON object (an EPCISDocument)")]
    problems = []
    if document.get("type") != "EPCISDocument":
        problems.append(CaptureProblem("/type", f"type must be 'EPCISDocument', not {document.get('type')!r}"))
    if "@context" not in document:
        problems.append(CaptureProblem("/@context", f"@context is required (it must include {EPCIS_CONTEXT})"))
    if document.get("schemaVersion") != SCHEMA_VERSION:
        problems.append(CaptureProblem(
            "/schemaVersion", f"schemaVersion must be '{SCHEMA_VERSION}', not {document.get('schemaVersion')!r}",
        ))
    body = document.get("epcisBody")
    if not isinstance(body, dict):
        problems.append(CaptureProblem(
            "/epcisBody", "epcisBody is required" if body is None else "epcisBody must be a JSON object",
        ))
        return problems
    events = body.get("eventList")
    if not isinstance(events, list):
        problems.append(CaptureProblem(
            "/epcisBody/eventList", "eventList is required" if events is None else "eventList must be a list",
        ))
    elif not events:
        problems.append(CaptureProblem("/epcisBody/eventList", "eventList must contain at least one event"))
    elif len(events) > MAX_CAPTURE_EVENTS:
        problems.append(CaptureProblem(
            "/epcisBody/eventList",
            f"at most {MAX_CAPTURE_EVENTS} events per capture, this document has {len(events)}; split it",
        ))
    else:
        for index, event in enumerate(events):
            problems.extend(_event_problems(event, ["epcisBody", "eventList", index]))
    return problems


def _too_many_events(document: Any) -> bool:
    body = document.get("epcisBody") if isinstance(document, dict) else None
    events = body.get("eventList") if isinstance(body, dict) else None
    return isinstance(events, list) and len(events) > MAX_CAPTURE_EVENTS


def validate_capture(document: Any, schema: dict[str, Any] | None = None) -> list[CaptureProblem]:
    """Everything wrong with a captured EPCIS document; an empty list means it may be stored.

    With `schema` (the official EPCIS JSON schema, already parsed) every schema error is reported,
    in the dialect the schema declares and with format checking.  nongsan's own rules always run
    on top; where both complain about the same place, only the schema's message is kept so the
    sender reads each problem once.
    """
    own = _nongsan_problems(document)
    if schema is None or _too_many_events(document):
        # An oversized capture is refused outright; validating 10,000+ events to list their
        # problems would cost more than the sender deserves.
        return own
    problems = _schema_problems(document, schema)
    seen_pointers = {problem.pointer for problem in problems}
    seen = set(problems)
    for problem in own:
        if problem.pointer not in seen_pointers and problem not in seen:
            problems.append(problem)
            seen.add(problem)
    # The schema's if/then/allOf structure can report the same error twice; keep the first.
    return list(dict.fromkeys(problems))


def problem_json(
    problems: Iterable[CaptureProblem],
    *,
    title: str,
    status: int = 400,
    problem_type: str = "epcisException:ValidationException",
) -> dict[str, Any]:
    """An RFC 7807 problem document (serve it as application/problem+json).

    The default type is the one the EPCIS 2.0 REST binding uses for a rejected capture; `errors` is
    an extension member listing each problem with its JSON pointer.
    """
    problems = list(problems)
    if not problems:
        detail = "The request could not be processed."
    elif len(problems) == 1:
        detail = f"{problems[0].pointer or '/'}: {problems[0].message}"
    else:
        detail = f"{len(problems)} problems were found; each is listed in 'errors' with its JSON pointer."
    return {
        "type": problem_type,
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [{"pointer": problem.pointer, "detail": problem.message} for problem in problems],
    }


# -- import -------------------------------------------------------------------------------------------
# Standard EPCIS fields that the reverse mapping turns into DTE fields; anything else is kept as is.
_MAPPED_FIELDS: Final = frozenset({
    "type", "eventID", "eventTime", "eventTimeZoneOffset", "action", "bizStep", "disposition",
    "bizLocation", "quantityList", "epcList", "inputQuantityList", "outputQuantityList",
    "inputEPCList", "outputEPCList", "ilmd",
})

# CBV business step (bare term) -> nongsan processType, for ObjectEvents from other software.
_PROCESS_BY_STEP: Final = {
    "packing": EventKind.PACKING,
    "inspecting": EventKind.INSPECTION,
    "shipping": EventKind.SHIPPING,
    "receiving": EventKind.RECEIVING,
}
OBSERVATION: Final = "observation"
_KINDS: Final = frozenset(kind.value for kind in EventKind)


def _derive_process_type(event_type: str, biz_step: str | None, action: str | None, disposition: str | None) -> str:
    if event_type == "TransformationEvent":
        return EventKind.PROCESSING
    step = _BIZ_STEPS.shorten(biz_step) if biz_step else None
    if step == "commissioning" and action == "ADD":
        return EventKind.HARVEST
    if step in _PROCESS_BY_STEP:
        return _PROCESS_BY_STEP[step]
    # nongsan's own vocabulary, in either spelling, is a farm-diary entry.
    if biz_step in (CULTIVATING_STEP, f"{NONGSAN_PREFIX}:BizStep-cultivating"):
        return EventKind.DIARY
    # A lot put on hold as recalled is what nongsan calls a recall, whoever recorded it.
    if disposition and _DISPOSITIONS.shorten(disposition) == "recalled":
        return EventKind.RECALL
    return OBSERVATION


def _import_quantities(elements: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    imported = []
    for element in elements:
        out: dict[str, Any] = {"type": ["QuantityElement"], "productId": element["epcClass"]}
        if element.get("quantity") is not None:
            out["quantity"] = float(element["quantity"])
        if element.get("uom"):
            out["uom"] = element["uom"]
        imported.append(out)
    return imported


def _import_ilmd(ilmd: dict[str, Any]) -> dict[str, Any]:
    return {(_local_name(key) or key): value for key, value in ilmd.items()}


def from_epcis_event(epcis_event: dict[str, Any]) -> dict[str, Any]:
    """A captured EPCIS ObjectEvent or TransformationEvent in nongsan's internal (UNTP DTE) shape.

    processType comes from the event's own ``nongsan:processType`` when it carries a known one
    (our own exports do); otherwise it is derived from the business step: commissioning with ADD is
    a harvest, packing/inspecting/shipping/receiving map to their kinds, a TransformationEvent is
    processing, nongsan's cultivating step is a diary entry, a "recalled" disposition a recall, and
    anything else an "observation".  Fields nongsan has no place for (readPoint,
    bizTransactionList, partners' extensions, ...) are kept under ``details`` with their names.
    """
    event_type = _event_type(epcis_event.get("type"))
    if event_type not in ("ObjectEvent", "TransformationEvent"):
        raise ValueError(f"nongsan only imports ObjectEvent and TransformationEvent, not {event_type}")
    action = epcis_event.get("action")
    biz_step = epcis_event.get("bizStep")
    disposition = epcis_event.get("disposition")

    details: dict[str, Any] = {}
    ilmd: dict[str, Any] = {}
    location: dict[str, Any] = {}
    declared_kind: str | None = None
    for key, value in epcis_event.items():
        if key in _MAPPED_FIELDS:
            continue
        local = _local_name(key)
        if local == "processType" and isinstance(value, str) and value in _KINDS:
            declared_kind = value
        elif local == "locationName":
            location["name"] = value
        elif local == "locationAddress":
            location["address"] = value
        elif local == "ilmd" and isinstance(value, dict):
            ilmd.update(_import_ilmd(value))
        elif local is not None:
            details[local] = value
        else:
            details[key] = value

    dte: dict[str, Any] = {
        "type": [event_type, "Event"],
        "id": epcis_event.get("eventID") or f"urn:uuid:{uuid.uuid4()}",
        "processType": declared_kind or _derive_process_type(event_type, biz_step, action, disposition),
        "eventTime": epcis_event.get("eventTime"),
        "eventTimeZoneOffset": epcis_event.get("eventTimeZoneOffset"),
    }
    if biz_step:
        dte["bizStep"] = _BIZ_STEPS.expand(biz_step)
    if disposition:
        dte["disposition"] = _DISPOSITIONS.expand(disposition)
    biz_location = (epcis_event.get("bizLocation") or {}).get("id")
    if biz_location:
        dte["bizLocation"] = biz_location
        location = {"id": biz_location, **location}
    if location:
        dte["location"] = location
    if event_type == "ObjectEvent":
        if action:
            dte["action"] = str(action).lower()
        if epcis_event.get("quantityList"):
            dte["quantityList"] = _import_quantities(epcis_event["quantityList"])
        if epcis_event.get("epcList"):
            dte["epcList"] = [{"type": ["Item"], "id": epc} for epc in epcis_event["epcList"]]
    else:
        dte["inputQuantityList"] = _import_quantities(epcis_event.get("inputQuantityList") or [])
        dte["outputQuantityList"] = _import_quantities(epcis_event.get("outputQuantityList") or [])
        for field in ("inputEPCList", "outputEPCList"):
            if epcis_event.get(field):
                dte[field] = [{"type": ["Item"], "id": epc} for epc in epcis_event[field]]
    if isinstance(epcis_event.get("ilmd"), dict):
        ilmd = {**_import_ilmd(epcis_event["ilmd"]), **ilmd}
    if ilmd:
        dte["ilmd"] = ilmd
    if details:
        dte["details"] = details
    return dte
