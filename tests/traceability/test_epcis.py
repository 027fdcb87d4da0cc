"""Tests for traceability.epcis (EPCIS 2.0 export, capture validation, import).

The ground truth is GS1's: the official EPCIS JSON schema, the EPCIS JSON-LD context and the
official example documents, read from the shared conformance directory (not copied into the repo;
NONGSAN_EPCIS_CONFORMANCE points elsewhere if needed).  The schema is applied here with jsonschema
directly as well as through validate_capture, so a bug in the module's own validation cannot make
its exports look valid.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import os
import sys
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.validators import validator_for

from traceability import epcis
from traceability.epcis import (
    EPCIS_CONTEXT,
    CaptureProblem,
    epcis_document,
    from_epcis_event,
    problem_json,
    to_epcis_event,
    validate_capture,
)
from traceability.events import CULTIVATING_STEP, build_event, item, quantity

from tests.conformance import CONFORMANCE as _CONFORMANCE_ROOT  # noqa: E402

CONFORMANCE = Path(os.environ.get("NONGSAN_EPCIS_CONFORMANCE", str(_CONFORMANCE_ROOT / "epcis")))
EXAMPLES = sorted((CONFORMANCE / "examples").glob("*.json"))

BASE = "https://nongsan.test"
GTIN = "08930001000018"
PADDY = f"{BASE}/01/{GTIN}/10/ST25-01"
RICE = f"{BASE}/01/08930001000025/10/ST25-01-X"
BAG = f"{BASE}/01/08930001000032/10/ST25-01-B"
ICT = timezone(timedelta(hours=7))  # Indochina Time, where the cooperatives are
COOPERATIVE = {
    "id": f"{BASE}/locations/cooperative/3",
    "name": "HTX Nông nghiệp Hòa Tú",
    "address": {"streetAddress": "Ấp Hòa Tú 2", "addressLocality": "Mỹ Xuyên", "addressRegion": "Sóc Trăng"},
}
MILL = {"id": f"{BASE}/locations/mill/1", "name": "Nhà máy xay xát Long Phú", "address": "Long Phú, Sóc Trăng"}
SHOP = {"id": f"{BASE}/locations/shop/1", "name": "Cửa hàng nongsan Quận 3"}


# -- the event hash module is written separately; stand in for it only while it is missing ----------
def _real_event_hash_available() -> bool:
    try:
        importlib.import_module("traceability.eventhash")
    except ImportError:
        return False
    return True


REAL_EVENT_HASH = _real_event_hash_available()


def _stand_in_event_hash(event: dict[str, Any], context: dict | None = None) -> str:
    digest = hashlib.sha256(json.dumps([event, context], sort_keys=True).encode()).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"


@pytest.fixture(scope="module", autouse=True)
def event_hash_module():
    """Export needs traceability.eventhash; until it exists, a stand-in of the same shape is used.

    Only test_event_ids_are_the_event_hash checks the ID itself, and it insists on the real module.
    """
    if REAL_EVENT_HASH:
        yield
        return
    stand_in = types.ModuleType("traceability.eventhash")
    stand_in.event_hash = _stand_in_event_hash  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "traceability.eventhash", stand_in)
        yield


# -- conformance material ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads((CONFORMANCE / "EPCIS-JSON-Schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def context() -> dict[str, Any]:
    return json.loads((CONFORMANCE / "epcis-context.jsonld").read_text(encoding="utf-8"))["@context"]


def schema_errors(document: Any, schema: dict[str, Any]) -> list[str]:
    """Straight jsonschema, in the schema's own dialect, with the library's format checker."""
    cls = validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(document)]


# -- a representative batch, as nongsan records it --------------------------------------------------
def at(day: int, hour: int = 7, tz: timezone = ICT) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=tz)


def representative_events() -> dict[str, dict[str, Any]]:
    return {
        "diary": build_event(
            "diary", event_time=at(2), location=COOPERATIVE,
            quantities=[quantity(PADDY, "Lúa ST25", 0)],
            details={"input": "Validacin 5L", "preHarvestIntervalDays": 7, "dose": 1.5,
                     "người ghi": "Trần Văn Bảy", "weather/rain": True},
        ),
        "harvest": build_event(
            "harvest", event_time=at(20), location=COOPERATIVE,
            quantities=[quantity(PADDY, "Lúa ST25", 1200)],
            items=[item(f"{PADDY}/21/S1", "Bao lúa 1"), item(f"{PADDY}/21/S2", "Bao lúa 2")],
            ilmd={"harvestDate": "2026-11-20", "plot": "Thửa 12, tờ bản đồ 3",
                  "variety": "ST25", "cultivationStandard": "VietGAP"},
        ),
        "processing": build_event(
            "processing", event_time=at(22, 9), location=MILL,
            inputs=[quantity(PADDY, "Lúa ST25", 1200)],
            outputs=[quantity(RICE, "Gạo ST25", 780.5)],
            ilmd={"millingDate": "2026-11-22"},
        ),
        "packing": build_event(
            "packing", event_time=at(23), location=MILL,
            quantities=[quantity(BAG, "Gạo ST25 túi 5kg", 780)],
            details={"bagSizeKg": 5, "bags": 156},
        ),
        "inspection": build_event(
            "inspection", event_time=at(23, 15), location=MILL,
            quantities=[quantity(BAG, "Gạo ST25 túi 5kg", 780)],
            disposition="https://ref.gs1.org/cbv/Disp-non_conformant",
            details={"laboratory": "Quatest 3", "moisturePercent": 14.9},
        ),
        "shipping": build_event(
            "shipping", event_time=at(24, 5), location=MILL,
            quantities=[quantity(BAG, "Gạo ST25 túi 5kg", 500)],
            details={"carrier": "VNPost", "trackingNumber": "EB123456789VN"},
        ),
        "receiving": build_event(
            "receiving", event_time=at(24, 18), location=SHOP,
            quantities=[quantity(BAG, "Gạo ST25 túi 5kg", 500)],
        ),
        "recall": build_event(
            "recall", event_time=at(28, 10, timezone.utc), location=MILL,
            quantities=[quantity(BAG, "Gạo ST25 túi 5kg", 780)],
            details={"reason": "Dư lượng thuốc bảo vệ thực vật vượt ngưỡng"},
        ),
    }


CREATED = datetime(2026, 11, 29, 9, 30, tzinfo=ICT)


@pytest.fixture(scope="module")
def internal() -> dict[str, dict[str, Any]]:
    return representative_events()


@pytest.fixture(scope="module")
def document(internal) -> dict[str, Any]:
    return epcis_document(list(internal.values()), creation_date=CREATED, sender="urn:nongsan:cooperative:3")


@pytest.fixture(scope="module")
def exported(document, internal) -> dict[str, dict[str, Any]]:
    return dict(zip(internal, document["epcisBody"]["eventList"]))


# -- export ------------------------------------------------------------------------------------------
def test_cbv_terms_match_the_schema_and_the_context(schema, context):
    definitions = schema["definitions"]
    assert epcis.CBV_BIZ_STEPS == set(definitions["bizStep"]["anyOf"][1]["enum"])
    assert epcis.CBV_DISPOSITIONS == set(definitions["disposition"]["anyOf"][1]["enum"])
    assert epcis.CBV_BIZ_STEPS == set(context["bizStep"]["@context"])
    assert epcis.CBV_DISPOSITIONS == set(context["disposition"]["@context"])


def test_representative_document_is_valid_against_the_official_schema(document, schema):
    assert schema_errors(document, schema) == []
    # And again with format checking that really looks at uri and date-time values.
    assert validate_capture(document, schema) == []
    assert validate_capture(document) == []
    json.dumps(document, allow_nan=False)  # plain JSON, nothing Python-only


def test_document_header(document):
    assert document["@context"] == [EPCIS_CONTEXT, {"nongsan": "https://nongsan.vn/voc/"}]
    assert document["type"] == "EPCISDocument"
    assert document["schemaVersion"] == "2.0"
    assert document["creationDate"] == "2026-11-29T02:30:00Z"  # 09:30 in Vietnam, in UTC
    assert document["sender"] == "urn:nongsan:cooperative:3"
    assert len(document["epcisBody"]["eventList"]) == 8


def test_document_without_sender_and_empty(internal):
    document = epcis_document([], creation_date=datetime(2026, 1, 1, 0, 0, 0, 250_000, tzinfo=timezone.utc))
    assert "sender" not in document
    assert document["creationDate"] == "2026-01-01T00:00:00.250Z"
    assert document["epcisBody"] == {"eventList": []}


def test_naive_creation_date_is_refused(internal):
    with pytest.raises(ValueError, match="timezone"):
        epcis_document([internal["harvest"]], creation_date=datetime(2026, 11, 29, 9, 30))


def test_recall_disposition_is_the_bare_cbv_term(exported):
    recall = exported["recall"]
    assert recall["disposition"] == "recalled"
    assert recall["bizStep"] == "holding"
    assert recall["eventTime"] == "2026-11-28T10:00:00+00:00"
    assert recall["eventTimeZoneOffset"] == "+00:00"


def test_harvest_mapping(exported):
    harvest = exported["harvest"]
    assert harvest["type"] == "ObjectEvent"
    assert harvest["eventTime"] == "2026-11-20T07:00:00+07:00"
    assert harvest["eventTimeZoneOffset"] == "+07:00"
    assert harvest["action"] == "ADD"
    assert harvest["bizStep"] == "commissioning"
    assert harvest["disposition"] == "active"
    assert harvest["bizLocation"] == {"id": COOPERATIVE["id"]}
    assert harvest["quantityList"] == [{"epcClass": PADDY, "quantity": 1200.0, "uom": "KGM"}]
    assert harvest["epcList"] == [f"{PADDY}/21/S1", f"{PADDY}/21/S2"]
    assert harvest["ilmd"] == {
        "nongsan:harvestDate": "2026-11-20",
        "nongsan:plot": "Thửa 12, tờ bản đồ 3",
        "nongsan:variety": "ST25",
        "nongsan:cultivationStandard": "VietGAP",
    }
    assert harvest["nongsan:locationName"] == COOPERATIVE["name"]
    assert harvest["nongsan:locationAddress"] == COOPERATIVE["address"]
    assert harvest["nongsan:processType"] == "harvest"
    assert harvest["eventID"].startswith("ni:///sha-256;")
    # Internal-only fields do not leak into EPCIS.
    for internal_only in ("id", "processType", "location", "details"):
        assert internal_only not in harvest


def test_custom_biz_step_stays_a_full_uri_and_details_become_extensions(exported):
    diary = exported["diary"]
    assert diary["bizStep"] == CULTIVATING_STEP
    assert diary["action"] == "OBSERVE"
    assert diary["nongsan:input"] == "Validacin 5L"
    assert diary["nongsan:preHarvestIntervalDays"] == 7
    assert diary["nongsan:dose"] == 1.5
    # Keys that are not URI-safe are percent-encoded so the name is still a valid compact IRI.
    assert diary["nongsan:ng%C6%B0%E1%BB%9Di%20ghi"] == "Trần Văn Bảy"
    assert diary["nongsan:weather%2Frain"] is True


def test_transformation_mapping(exported):
    processing = exported["processing"]
    assert processing["type"] == "TransformationEvent"
    assert "action" not in processing
    assert processing["inputQuantityList"] == [{"epcClass": PADDY, "quantity": 1200.0, "uom": "KGM"}]
    assert processing["outputQuantityList"] == [{"epcClass": RICE, "quantity": 780.5, "uom": "KGM"}]
    assert processing["ilmd"] == {"nongsan:millingDate": "2026-11-22"}


def test_inspection_disposition(exported):
    assert exported["inspection"]["bizStep"] == "inspecting"
    assert exported["inspection"]["disposition"] == "non_conformant"


def test_event_ids_are_the_event_hash(internal, exported, monkeypatch):
    if not REAL_EVENT_HASH:
        # Make sure importorskip looks for the real module, not the stand-in installed above.
        monkeypatch.delitem(sys.modules, "traceability.eventhash", raising=False)
    eventhash = pytest.importorskip("traceability.eventhash")
    for kind, event in exported.items():
        without_id = {k: v for k, v in event.items() if k != "eventID"}
        assert event["eventID"] == eventhash.event_hash(without_id, {"nongsan": "https://nongsan.vn/voc/"}), kind
        assert event["eventID"].endswith("?ver=CBV2.0")
    assert len({event["eventID"] for event in exported.values()}) == len(exported)


def test_event_id_depends_on_content_not_on_the_internal_id(internal):
    harvest = internal["harvest"]
    renamed = {**harvest, "id": "urn:uuid:00000000-0000-4000-8000-000000000000"}
    assert to_epcis_event(harvest)["eventID"] == to_epcis_event(renamed)["eventID"]
    heavier = {**harvest, "quantityList": [quantity(PADDY, "Lúa ST25", 1201)]}
    assert to_epcis_event(harvest)["eventID"] != to_epcis_event(heavier)["eventID"]


def test_export_does_not_modify_the_internal_event(internal):
    before = copy.deepcopy(internal)
    for event in internal.values():
        to_epcis_event(event)
    assert internal == before


def test_legacy_cbv_spellings_are_shortened(internal):
    event = {**internal["shipping"], "bizStep": "urn:epcglobal:cbv:bizstep:shipping",
             "disposition": "cbv:Disp-in_transit"}
    exported = to_epcis_event(event)
    assert (exported["bizStep"], exported["disposition"]) == ("shipping", "in_transit")
    with pytest.raises(ValueError, match="CBV"):
        to_epcis_event({**event, "bizStep": "urn:epcglobal:cbv:bizstep:threshing"})


def test_ilmd_on_an_observe_event_travels_as_an_extension(internal, schema):
    # EPCIS only allows ILMD when action is ADD; nongsan keeps the data without breaking the schema.
    event = build_event("packing", event_time=at(23), location=MILL,
                        quantities=[quantity(BAG, "Gạo", 780)], ilmd={"packedOn": "2026-11-23"})
    exported = to_epcis_event(event)
    assert "ilmd" not in exported
    assert exported["nongsan:ilmd"] == {"nongsan:packedOn": "2026-11-23"}
    document = {**epcis_document([], creation_date=CREATED), "epcisBody": {"eventList": [exported]}}
    assert schema_errors(document, schema) == []
    assert from_epcis_event(exported)["ilmd"] == {"packedOn": "2026-11-23"}


def test_object_event_without_items_or_quantities_gets_an_empty_epc_list(schema):
    event = build_event("receiving", event_time=at(24), location=SHOP)
    exported = to_epcis_event(event)
    assert exported["epcList"] == []
    document = {**epcis_document([], creation_date=CREATED), "epcisBody": {"eventList": [exported]}}
    assert schema_errors(document, schema) == []


@pytest.mark.parametrize(
    "change, message",
    [
        ({"action": None}, "action"),
        ({"action": "move"}, "action"),
        ({"eventTime": "2026-11-20T07:00:00"}, "offset"),
        ({"eventTime": None}, "eventTime"),
        ({"type": ["AggregationEvent", "Event"]}, "AggregationEvent"),
        ({"type": ["Event"]}, "event type"),
        ({"quantityList": [{"productId": PADDY, "quantity": -1.0, "uom": "KGM"}]}, "quantity"),
        ({"quantityList": [{"productId": PADDY, "quantity": float("nan"), "uom": "KGM"}]}, "quantity"),
        ({"details": {"processType": "harvest"}}, "clashes"),
    ],
)
def test_events_epcis_cannot_represent_are_refused(internal, change, message):
    with pytest.raises(ValueError, match=message):
        to_epcis_event({**internal["harvest"], **change})


def test_transformation_without_inputs_or_outputs_is_refused():
    event = build_event("processing", event_time=at(22), location=MILL)
    with pytest.raises(ValueError, match="TransformationEvent"):
        to_epcis_event(event)


# -- capture: official examples ---------------------------------------------------------------------
def test_conformance_examples_are_present():
    assert len(EXAMPLES) >= 30, f"expected the official examples under {CONFORMANCE / 'examples'}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_official_examples_pass_capture_validation(path, schema):
    document = json.loads(path.read_text(encoding="utf-8"))
    assert validate_capture(document, schema) == []
    assert validate_capture(document) == []


# -- capture: broken documents ----------------------------------------------------------------------
def valid_capture(document) -> dict[str, Any]:
    return copy.deepcopy(document)


def _without_event_time(doc):
    del doc["epcisBody"]["eventList"][1]["eventTime"]


def _bad_offset(doc):
    doc["epcisBody"]["eventList"][0]["eventTimeZoneOffset"] = "+7:00"


def _lower_case_action(doc):
    doc["epcisBody"]["eventList"][1]["action"] = "add"


def _unknown_event_type(doc):
    doc["epcisBody"]["eventList"][2]["type"] = "HarvestEvent"


def _wrong_document_type(doc):
    doc["type"] = "EPCISQueryDocument"


def _empty_event_list(doc):
    doc["epcisBody"]["eventList"] = []


def _body_not_an_object(doc):
    doc["epcisBody"] = ["not", "an", "object"]


def _no_offset_in_event_time(doc):
    doc["epcisBody"]["eventList"][0]["eventTime"] = "2026-11-02T07:00:00"


def _negative_quantity(doc):
    doc["epcisBody"]["eventList"][2]["outputQuantityList"][0]["quantity"] = -780.5


def _quantity_as_text(doc):
    doc["epcisBody"]["eventList"][2]["inputQuantityList"][0]["quantity"] = "1200"


def _quantity_as_boolean(doc):
    doc["epcisBody"]["eventList"][1]["quantityList"][0]["quantity"] = True


def _quantity_not_a_number(doc):
    # json.loads accepts NaN, so a capture endpoint can receive it.
    doc["epcisBody"]["eventList"][1]["quantityList"][0]["quantity"] = json.loads("NaN")


def _missing_action(doc):
    del doc["epcisBody"]["eventList"][3]["action"]


def _wrong_schema_version(doc):
    doc["schemaVersion"] = "1.2"


def _no_context(doc):
    del doc["@context"]


def _event_not_an_object(doc):
    doc["epcisBody"]["eventList"][4] = "ObjectEvent"


def _no_event_list(doc):
    doc["epcisBody"] = {}


BROKEN = [
    (_without_event_time, "/epcisBody/eventList/1/eventTime"),
    (_bad_offset, "/epcisBody/eventList/0/eventTimeZoneOffset"),
    (_lower_case_action, "/epcisBody/eventList/1/action"),
    (_unknown_event_type, "/epcisBody/eventList/2/type"),
    (_wrong_document_type, "/type"),
    (_empty_event_list, "/epcisBody/eventList"),
    (_body_not_an_object, "/epcisBody"),
    (_no_offset_in_event_time, "/epcisBody/eventList/0/eventTime"),
    (_negative_quantity, "/epcisBody/eventList/2/outputQuantityList/0/quantity"),
    (_quantity_as_text, "/epcisBody/eventList/2/inputQuantityList/0/quantity"),
    (_quantity_as_boolean, "/epcisBody/eventList/1/quantityList/0/quantity"),
    (_quantity_not_a_number, "/epcisBody/eventList/1/quantityList/0/quantity"),
    (_missing_action, "/epcisBody/eventList/3/action"),
    (_wrong_schema_version, "/schemaVersion"),
    (_no_context, "/@context"),
    (_event_not_an_object, "/epcisBody/eventList/4"),
    (_no_event_list, "/epcisBody/eventList"),
]


@pytest.mark.parametrize("use_schema", [True, False], ids=["with-schema", "nongsan-rules-only"])
@pytest.mark.parametrize("breakage, pointer", BROKEN, ids=[b.__name__.strip("_") for b, _ in BROKEN])
def test_broken_documents_are_reported_at_the_right_place(document, schema, breakage, pointer, use_schema):
    broken = valid_capture(document)
    breakage(broken)
    problems = validate_capture(broken, schema if use_schema else None)
    assert problems, "a broken document passed"
    assert all(isinstance(p, CaptureProblem) for p in problems)
    assert pointer in {p.pointer for p in problems}, problems


def test_schema_alone_agrees_that_the_broken_documents_are_broken(document, schema):
    # Guards against nongsan rules that are stricter than the standard in ways the tests above hide.
    nongsan_only = {_empty_event_list, _no_offset_in_event_time, _negative_quantity, _wrong_schema_version,
                    _quantity_not_a_number}
    for breakage, _ in BROKEN:
        broken = valid_capture(document)
        breakage(broken)
        if breakage in nongsan_only:
            continue
        assert validate_capture(broken, schema), breakage.__name__


@pytest.mark.parametrize("body", [[], "EPCISDocument", 42, None, True], ids=repr)
@pytest.mark.parametrize("use_schema", [True, False], ids=["with-schema", "nongsan-rules-only"])
def test_a_body_that_is_not_an_object_is_reported_at_the_root(schema, body, use_schema):
    problems = validate_capture(body, schema if use_schema else None)
    assert problems
    assert "" in {p.pointer for p in problems}


def test_every_problem_is_reported_once(document, schema):
    broken = valid_capture(document)
    _without_event_time(broken)
    _bad_offset(broken)
    _lower_case_action(broken)
    problems = validate_capture(broken, schema)
    pointers = [p.pointer for p in problems]
    for pointer in ("/epcisBody/eventList/1/eventTime", "/epcisBody/eventList/0/eventTimeZoneOffset",
                    "/epcisBody/eventList/1/action"):
        assert pointers.count(pointer) == 1, problems
    assert len(problems) == len(set(problems))


def test_formats_are_checked_with_the_schema(document, schema):
    broken = valid_capture(document)
    broken["epcisBody"]["eventList"][1]["epcList"][0] = "bao lúa số 1"
    broken["creationDate"] = "29/11/2026"
    pointers = {p.pointer for p in validate_capture(broken, schema)}
    assert "/epcisBody/eventList/1/epcList/0" in pointers
    assert "/creationDate" in pointers


def test_messages_stay_short(schema):
    huge = {"type": "EPCISDocument", "epcisBody": {"eventList": [{"type": "ObjectEvent", "x": "y" * 10_000}]}}
    assert all(len(p.message) <= 300 for p in validate_capture(huge, schema))


def test_more_than_ten_thousand_events_are_refused_outright(document, schema):
    event = document["epcisBody"]["eventList"][0]
    oversized = {**document, "epcisBody": {"eventList": [event] * 10_001}}
    problems = validate_capture(oversized, schema)
    assert [p.pointer for p in problems] == ["/epcisBody/eventList"]
    assert "10000" in problems[0].message
    at_limit = {**document, "epcisBody": {"eventList": [event] * 10_000}}
    assert validate_capture(at_limit) == []


def test_json_pointer_escaping(document, schema):
    broken = valid_capture(document)
    broken["epcisBody"]["eventList"][0]["quantityList"] = "none"
    assert "/epcisBody/eventList/0/quantityList" in {p.pointer for p in validate_capture(broken)}
    assert epcis._pointer(["a/b", "c~d", 0]) == "/a~1b/c~0d/0"
    assert epcis._pointer([]) == ""


# -- problem documents ------------------------------------------------------------------------------
def test_problem_json_lists_every_problem():
    problems = [
        CaptureProblem("/epcisBody/eventList/0/eventTime", "eventTime is required"),
        CaptureProblem("/epcisBody/eventList/1/action", "action must be ADD, OBSERVE or DELETE"),
    ]
    problem = problem_json(problems, title="The EPCIS document was rejected")
    assert problem == {
        "type": "epcisException:ValidationException",
        "title": "The EPCIS document was rejected",
        "status": 400,
        "detail": problem["detail"],
        "errors": [
            {"pointer": "/epcisBody/eventList/0/eventTime", "detail": "eventTime is required"},
            {"pointer": "/epcisBody/eventList/1/action", "detail": "action must be ADD, OBSERVE or DELETE"},
        ],
    }
    assert "2 problems" in problem["detail"]
    json.dumps(problem)


def test_problem_json_single_problem_and_status():
    problem = problem_json([CaptureProblem("", "the request body must be a JSON object")],
                           title="Unprocessable", status=422, problem_type="https://nongsan.vn/problems/capture")
    assert problem["status"] == 422
    assert problem["type"] == "https://nongsan.vn/problems/capture"
    assert problem["detail"] == "/: the request body must be a JSON object"
    assert problem["errors"] == [{"pointer": "", "detail": "the request body must be a JSON object"}]


def test_problem_json_from_a_real_validation(document, schema):
    broken = valid_capture(document)
    _lower_case_action(broken)
    problem = problem_json(validate_capture(broken, schema), title="Rejected")
    assert "/epcisBody/eventList/1/action" in {e["pointer"] for e in problem["errors"]}


# -- import ------------------------------------------------------------------------------------------
def _quantities(elements):
    return [(e["productId"], e["quantity"], e["uom"]) for e in elements or []]


@pytest.mark.parametrize("kind", list(representative_events()))
def test_round_trip_keeps_what_nongsan_needs(internal, kind):
    original = internal[kind]
    back = from_epcis_event(to_epcis_event(original))
    assert back["type"] == original["type"]
    assert back["processType"] == original["processType"]
    assert back["eventTime"] == original["eventTime"]
    assert back["eventTimeZoneOffset"] == original["eventTimeZoneOffset"]
    assert back["bizStep"] == original["bizStep"]
    assert back["disposition"] == original["disposition"]
    assert back.get("action") == original.get("action")
    assert back["bizLocation"] == original["bizLocation"]
    assert back["location"] == {k: v for k, v in original["location"].items() if k in ("id", "name", "address")}
    for field in ("quantityList", "inputQuantityList", "outputQuantityList"):
        assert _quantities(back.get(field)) == _quantities(original.get(field)), field
    assert [i["id"] for i in back.get("epcList", [])] == [i["id"] for i in original.get("epcList", [])]
    assert back.get("ilmd") == original.get("ilmd")
    assert back.get("details") == original.get("details")
    assert back["id"].startswith("ni:///sha-256;")


FOREIGN = [
    ("ObjectEvent", "commissioning", "ADD", "active", "harvest"),
    ("ObjectEvent", "commissioning", "OBSERVE", "active", "observation"),
    ("ObjectEvent", "packing", "ADD", "in_progress", "packing"),
    ("ObjectEvent", "inspecting", "OBSERVE", "conformant", "inspection"),
    ("ObjectEvent", "shipping", "OBSERVE", "in_transit", "shipping"),
    ("ObjectEvent", "receiving", "OBSERVE", "in_progress", "receiving"),
    ("ObjectEvent", "https://ref.gs1.org/cbv/BizStep-shipping", "OBSERVE", None, "shipping"),
    ("ObjectEvent", "urn:epcglobal:cbv:bizstep:receiving", "OBSERVE", None, "receiving"),
    ("ObjectEvent", CULTIVATING_STEP, "OBSERVE", "active", "diary"),
    ("ObjectEvent", "holding", "OBSERVE", "recalled", "recall"),
    ("ObjectEvent", "storing", "OBSERVE", "active", "observation"),
    ("ObjectEvent", "https://example.com/steps/drying", "OBSERVE", None, "observation"),
    ("ObjectEvent", None, "OBSERVE", None, "observation"),
    ("TransformationEvent", "commissioning", None, "active", "processing"),
    ("TransformationEvent", None, None, None, "processing"),
]


@pytest.mark.parametrize("event_type, biz_step, action, disposition, expected", FOREIGN)
def test_process_type_of_events_from_other_software(event_type, biz_step, action, disposition, expected):
    event: dict[str, Any] = {"type": event_type, "eventTime": "2026-11-20T07:00:00+07:00",
                             "eventTimeZoneOffset": "+07:00"}
    if event_type == "ObjectEvent":
        event["epcList"] = [f"{PADDY}/21/S1"]
    else:
        event["inputQuantityList"] = [{"epcClass": PADDY, "quantity": 10, "uom": "KGM"}]
    for field, value in (("bizStep", biz_step), ("action", action), ("disposition", disposition)):
        if value is not None:
            event[field] = value
    internal = from_epcis_event(event)
    assert internal["processType"] == expected
    assert internal["type"] == [event_type, "Event"]
    assert internal["id"].startswith("urn:uuid:")  # no eventID was sent
    if biz_step in epcis.CBV_BIZ_STEPS:
        assert internal["bizStep"] == f"https://ref.gs1.org/cbv/BizStep-{biz_step}"
    if disposition:
        assert internal["disposition"] == f"https://ref.gs1.org/cbv/Disp-{disposition}"


def test_unknown_fields_are_kept_under_details():
    document = json.loads((CONFORMANCE / "examples" / "ObjectEvent_with_userExtensions.json").read_text("utf-8"))
    observed, commissioned = (from_epcis_event(e) for e in document["epcisBody"]["eventList"])
    assert observed["processType"] == "shipping"
    assert observed["action"] == "observe"
    assert observed["details"]["example:userElement"] == {"anotherElement": "elementData"}
    assert observed["details"]["readPoint"] == {"id": "urn:epc:id:sgln:0614141.07346.1234"}
    assert observed["details"]["bizTransactionList"][0]["type"] == "po"
    assert commissioned["processType"] == "harvest"
    # A partner's ILMD keeps its own namespace; quantities become DTE quantity elements.
    assert commissioned["ilmd"] == {"example:userIlmd": {"part1": "1", "part2": "2", "part3": "3"}}
    assert commissioned["quantityList"] == [{"type": ["QuantityElement"],
                                             "productId": "urn:epc:class:lgtin:4023333.002000.2019-10-07",
                                             "quantity": 150.0, "uom": "KGM"}]


def test_nongsan_extensions_in_full_uri_form_are_understood():
    event = {
        "type": "ObjectEvent", "eventID": "ni:///sha-256;00?ver=CBV2.0",
        "eventTime": "2026-11-20T07:00:00+07:00", "eventTimeZoneOffset": "+07:00", "action": "OBSERVE",
        "epcList": [], "bizStep": "shipping",
        "https://nongsan.vn/voc/carrier": "VNPost",
        "https://nongsan.vn/voc/locationName": "Kho Cần Thơ",
        "nongsan:processType": "not-a-kind",
    }
    internal = from_epcis_event(event)
    assert internal["id"] == "ni:///sha-256;00?ver=CBV2.0"
    assert internal["processType"] == "shipping"  # an unknown declared kind does not win
    assert internal["details"] == {"carrier": "VNPost", "processType": "not-a-kind"}
    assert internal["location"] == {"name": "Kho Cần Thơ"}


@pytest.mark.parametrize("event_type", ["AggregationEvent", "TransactionEvent", "AssociationEvent", "Nope"])
def test_other_event_types_are_not_imported(event_type):
    with pytest.raises(ValueError):
        from_epcis_event({"type": event_type, "eventTime": "2026-11-20T07:00:00Z", "eventTimeZoneOffset": "+00:00"})


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_official_object_and_transformation_events_import(path):
    document = json.loads(path.read_text(encoding="utf-8"))
    for event in document["epcisBody"]["eventList"]:
        if event["type"] in ("ObjectEvent", "TransformationEvent"):
            internal = from_epcis_event(event)
            assert internal["eventTime"] == event["eventTime"]
            assert internal["processType"]


# -- properties -------------------------------------------------------------------------------------
KINDS_WITH_QUANTITIES = ["harvest", "diary", "packing", "inspection", "shipping", "receiving", "recall"]

offsets = st.integers(min_value=-12 * 4, max_value=14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))
moments = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 12, 31)),
    offsets,
)
kilograms = st.one_of(
    st.integers(min_value=0, max_value=10**9),
    st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
)


@st.composite
def internal_events(draw) -> dict[str, Any]:
    when = draw(moments)
    if draw(st.booleans()):
        kind = draw(st.sampled_from(KINDS_WITH_QUANTITIES))
        amounts = draw(st.lists(kilograms, min_size=1, max_size=3))
        return build_event(kind, event_time=when, location=COOPERATIVE,
                           quantities=[quantity(f"{PADDY}{i}", "Lúa", kg) for i, kg in enumerate(amounts)])
    kg_in, kg_out = draw(kilograms), draw(kilograms)
    return build_event("processing", event_time=when, location=MILL,
                       inputs=[quantity(PADDY, "Lúa", kg_in)], outputs=[quantity(RICE, "Gạo", kg_out)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(internal_events(), min_size=1, max_size=5), created=moments)
def test_random_quantities_and_times_give_valid_documents(schema, events, created):
    document = epcis_document(events, creation_date=created)
    json.dumps(document, allow_nan=False)
    assert schema_errors(document, schema) == []
    assert validate_capture(document, schema) == []
    for original, exported in zip(events, document["epcisBody"]["eventList"]):
        back = from_epcis_event(exported)
        assert back["eventTime"] == original["eventTime"]
        assert back["processType"] == original["processType"]
        for field in ("quantityList", "inputQuantityList", "outputQuantityList"):
            assert _quantities(back.get(field)) == _quantities(original.get(field))
