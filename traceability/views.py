"""Public trace pages at the GS1 Digital Link paths, and the batch QR codes."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from shop.db import get_session
from traceability import gs1
from traceability.qr import ERROR_LEVELS, qr_png, qr_svg
from traceability.schemas import BatchRef
from traceability.services import VerificationService, key_service

bp = Blueprint("traceability", __name__)


def _link_from_path(path: str) -> gs1.DigitalLink:
    try:
        return gs1.parse_digital_link_path(path)
    except gs1.GS1Error as error:
        abort(Response(error.message_vi + " / " + error.message, status=400, mimetype="text/plain"))


def _raw_path() -> str:
    """The path as the client sent it, still percent-encoded: a lot may contain an encoded '/'."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return raw.split("?", 1)[0].split("#", 1)[0]
    return quote(request.path, safe="/")


@bp.get("/01/<path:_rest>")
def trace_page(_rest: str):
    link = _link_from_path(_raw_path())
    if link.lot is None:
        abort(404)
    session = get_session()
    result = VerificationService(session, key_service(session)).verify_batch(BatchRef(link.gtin, link.lot))
    if not result.credentials:
        abort(404)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(result.as_dict())
    events = [c.payload["credentialSubject"][0] for c in result.credentials if c.payload]
    issuer = next((c.payload["issuer"] for c in result.credentials if c.payload), None)
    return render_template(
        "traceability/trace.html",
        link=link,
        uri=link.uri(current_app.config["PUBLIC_BASE_URL"]),
        result=result,
        events=events,
        issuer=issuer,
    )


@bp.get("/api/verify/01/<path:_rest>")
def verify_json(_rest: str):
    link = _link_from_path(_raw_path().removeprefix("/api/verify"))
    if link.lot is None:
        return jsonify({"error": "A lot (AI 10) is required", "field": "lot"}), 400
    session = get_session()
    result = VerificationService(session, key_service(session)).verify_batch(BatchRef(link.gtin, link.lot))
    if not result.credentials:
        return jsonify({"error": "Unknown batch", "field": "lot"}), 404
    return jsonify(result.as_dict())


@bp.get("/qr/01/<path:_rest>")
def batch_qr(_rest: str):
    path, _, fmt = _raw_path().removeprefix("/qr").rpartition(".")
    link = _link_from_path(path)
    level = request.args.get("ec", "M").upper()
    if level not in ERROR_LEVELS:
        return jsonify({"error": "Error correction must be L, M, Q or H", "field": "ec"}), 400
    uri = link.uri(current_app.config["PUBLIC_BASE_URL"])
    if fmt == "png":
        return Response(qr_png(uri, level), mimetype="image/png")
    if fmt == "svg":
        return Response(qr_svg(uri, level), mimetype="image/svg+xml")
    abort(404)
