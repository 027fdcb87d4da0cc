"""JSON endpoints of the catalogue: EPCIS 2.0 capture for a cooperative's other software."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, jsonify, request

from shop.accounts.apikeys import ApiKeyService, bearer_token
from shop.cooperatives.models import Cooperative, CooperativeStatus
from kernel.db import get_session
from kernel.extensions import csrf
from traceability import epcis
from traceability.capture import CaptureRejected, CaptureService
from traceability.schemas import IssuerRef
from traceability.services import CredentialService, key_service

api = Blueprint("catalog_api", __name__)
MAX_CAPTURE_BYTES = 16 * 1024 * 1024


def _problem(status: int, title: str, detail: str, errors=None) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json")


@api.post("/epcis/capture")
@csrf.exempt
def capture():
    session = get_session()
    caller = ApiKeyService(session).authenticate(bearer_token())
    if caller is None or caller.owner_kind != "cooperative":
        response = _problem(401, "Unauthorized", "Send a cooperative API key: Authorization: Bearer ns_…")
        response.headers["WWW-Authenticate"] = 'Bearer realm="nongsan"'
        return response
    cooperative = session.get(Cooperative, caller.owner_id)
    if cooperative is None or cooperative.status != CooperativeStatus.APPROVED:
        return _problem(403, "Forbidden", "Only approved cooperatives can sign events.")
    if (request.content_length or 0) > MAX_CAPTURE_BYTES:
        return _problem(413, "Too large", "A capture document may be at most 16 MB.")
    if not request.mimetype or not request.mimetype.endswith(("json", "ld+json")):
        return _problem(415, "Unsupported media type", "Send application/ld+json or application/json.")
    try:
        document = json.loads(request.get_data(cache=False) or b"null")
    except ValueError as error:
        return _problem(400, "Malformed JSON", str(error))
    credentials = CredentialService(session, key_service(session))
    from sqlmodel import select

    from shop.catalog.models import Product

    def owns_gtin(gtin: str) -> bool:
        return session.exec(select(Product.id).where(Product.gtin == gtin, Product.cooperative_id == cooperative.id)).first() is not None

    service = CaptureService(session, credentials, schema_path=current_app.config.get("EPCIS_SCHEMA_PATH"), owns_gtin=owns_gtin)
    try:
        result = service.capture(IssuerRef("cooperative", cooperative.id, cooperative.name), document)
    except CaptureRejected as rejected:
        body = epcis.problem_json(rejected.problems, title=rejected.title, status=rejected.status)
        return Response(json.dumps(body, ensure_ascii=False), status=rejected.status, mimetype="application/problem+json")
    return jsonify({"captured": len(result.event_ids), "eventIDs": result.event_ids,
                    "credentials": result.credential_hashes}), 201
