"""The postal partner's JSON API (version 1): its shipment jobs, accepting them, status updates.

Authenticated with a partner API key (`Authorization: Bearer ns_…`, stored hashed). Every update
carries the partner's own id for it, so a retried or duplicated update is applied once; an update
that arrives after a later one (out of order) never moves a shipment backwards.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for

from shop.accounts.apikeys import ApiKeyService, bearer_token
from kernel.db import get_session
from kernel.extensions import csrf
from workers.postal.models import ShipmentStatus
from workers.postal.schemas import shipment_public
from workers.postal.services import ShipmentService

api = Blueprint("partner_api", __name__, url_prefix="/api/partner/v1")
csrf.exempt(api)

UPDATE_STATUSES = [s.value for s in ShipmentStatus if s not in (ShipmentStatus.AWAITING_PICKUP, ShipmentStatus.CANCELLED)] + list(ShipmentService.COD_EVENTS)


def _caller():
    caller = ApiKeyService(get_session()).authenticate(bearer_token())
    if caller is None or caller.owner_kind != "partner":
        return None
    return caller


def _unauthorized():
    response = jsonify({"error": "Send a partner API key: Authorization: Bearer ns_…", "field": "Authorization"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="nongsan"'
    return response


@api.get("/shipments")
def list_shipments():
    caller = _caller()
    if caller is None:
        return _unauthorized()
    status = request.args.get("status") or None
    if status and status not in {s.value for s in ShipmentStatus}:
        return jsonify({"error": "Unknown status", "field": "status"}), 400
    shipments = ShipmentService(get_session()).for_partner(caller.owner_id, status)
    return jsonify({"shipments": [shipment_public(s) for s in shipments]})


@api.post("/shipments/<code>/accept")
def accept(code: str):
    caller = _caller()
    if caller is None:
        return _unauthorized()
    service = ShipmentService(get_session())
    shipment, changed = service.apply_partner_update(caller.owner_id, code, f"accept:{code}", "accepted", None,
                                                     actor=f"partner-api:{caller.key_id}")
    return jsonify({"shipment": shipment_public(shipment), "applied": changed})


@api.post("/shipments/<code>/updates")
def post_update(code: str):
    caller = _caller()
    if caller is None:
        return _unauthorized()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"error": "Send a JSON object", "field": None}), 400
    for name in ("id", "status"):
        if not isinstance(body.get(name), str) or not body[name]:
            return jsonify({"error": f"'{name}' is required (a string)", "field": name}), 400
    if body["status"] not in UPDATE_STATUSES:
        return jsonify({"error": f"status must be one of {', '.join(UPDATE_STATUSES)}", "field": "status"}), 400
    service = ShipmentService(get_session())
    shipment, applied = service.apply_partner_update(caller.owner_id, code, body["id"], body["status"], body.get("amount_vnd"),
                                                     actor=f"partner-api:{caller.key_id}")
    return jsonify({"shipment": shipment_public(shipment), "applied": applied})


@api.post("/webhook/<int:partner_id>")
def inbound_webhook(partner_id: int):
    """Status updates pushed by a partner's system, signed the Standard Webhooks way with the
    partner's secret: {"id": …, "shipment": code, "status": …, "amount_vnd": …}."""
    from workers import webhooks
    from workers.postal.models import Partner

    session = get_session()
    partner = session.get(Partner, partner_id)
    secrets = (partner.webhook_secrets or "").split() if partner else []
    body = request.get_data(cache=True)
    if not secrets:
        return jsonify({"error": "This partner has no webhook secret", "field": "partner_id"}), 404
    try:
        webhooks.verify(secrets, request.headers, body)
    except webhooks.WebhookError as error:
        return jsonify({"error": str(error), "field": "webhook-signature", "reason": error.reason}), 401
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify({"error": "Send a JSON object", "field": None}), 400
    for name in ("id", "shipment", "status"):
        if not isinstance(payload.get(name), str) or not payload[name]:
            return jsonify({"error": f"'{name}' is required (a string)", "field": name}), 400
    if payload["status"] not in UPDATE_STATUSES:
        return jsonify({"error": f"status must be one of {', '.join(UPDATE_STATUSES)}", "field": "status"}), 400
    shipment, applied = ShipmentService(session).apply_partner_update(
        partner_id, payload["shipment"], payload["id"], payload["status"], payload.get("amount_vnd"),
        actor=f"partner-webhook:{partner_id}")
    return jsonify({"shipment": shipment_public(shipment), "applied": applied})


@api.get("/openapi.json")
def openapi():
    update = {"type": "object", "required": ["id", "status"], "properties": {
        "id": {"type": "string", "maxLength": 80, "description": "your id for this update; repeats are applied once"},
        "status": {"type": "string", "enum": UPDATE_STATUSES},
        "amount_vnd": {"type": "integer", "minimum": 0, "description": "for cod_collected and cod_remitted"}}}
    error = {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}}}
    secured = [{"bearer": []}]
    return jsonify({
        "openapi": "3.1.0",
        "info": {"title": "nongsan postal partner API", "version": "1"},
        "servers": [{"url": url_for("partner_api.list_shipments", _external=True).rsplit("/shipments", 1)[0]}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"Update": update, "Error": error}},
        "paths": {
            "/shipments": {"get": {"summary": "Shipment jobs of the partner", "security": secured,
                                   "parameters": [{"name": "status", "in": "query", "schema": {"type": "string"}}],
                                   "responses": {"200": {"description": "jobs"}, "401": {"description": "no key"}}}},
            "/shipments/{code}/accept": {"post": {"summary": "Accept a job", "security": secured,
                                                  "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
                                                  "responses": {"200": {"description": "accepted"}, "404": {"description": "unknown shipment"}}}},
            "/shipments/{code}/updates": {"post": {
                "summary": "Report a status or a COD amount", "security": secured,
                "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Update"}}}},
                "responses": {"200": {"description": "recorded (applied tells whether it changed anything)"},
                              "400": {"description": "bad payload", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                              "404": {"description": "unknown shipment"}}}},
        },
    })


def init_app(app) -> None:
    app.register_blueprint(api)
