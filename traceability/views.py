"""The resolver at the GS1 Digital Link paths, the trace page, QR codes and the public trust files
(log checkpoints and proofs, did:web documents, offline bundles)."""

from __future__ import annotations

import hashlib
import json
import time
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from kernel.db import get_session
from kernel.extensions import csrf, limiter
from datetime import datetime

from traceability import crypto, gs1, resolver
from traceability.events import LOCAL_TZ
from traceability.models import KeyOwnerKind
from traceability.qr import ERROR_LEVELS, qr_png, qr_svg
from traceability.schemas import BatchRef, IssuerRef
from traceability.services import (
    CredentialService, RecallService, VerificationService, key_service, scan_service, transparency_log,
)

from cryptography.hazmat.primitives.serialization import Encoding

_DER = Encoding.DER
bp = Blueprint("traceability", __name__)

def _report_limit() -> str:
    return current_app.config.get("REPORT_RATE_LIMIT", "5 per hour")


CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Accept, Accept-Language, Content-Type",
    "Access-Control-Expose-Headers": "Link, Content-Type",
}


def _raw_path() -> str:
    """The path as the client sent it, still percent-encoded: a lot may contain an encoded '/'."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return raw.split("?", 1)[0].split("#", 1)[0]
    return quote(request.path, safe="/")


def _problem(status: int, title: str, detail: str, field: str | None = None) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "field": field}
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json")
    response.headers.update(CORS_HEADERS)
    return response


def _link_from_path(path: str) -> gs1.DigitalLink:
    try:
        return gs1.parse_digital_link_path(path)
    except gs1.GS1Error as error:
        abort(_problem(400, "Malformed GS1 Digital Link", f"{error.message_vi} / {error.message}", error.field))


def _base() -> str:
    return current_app.config["PUBLIC_BASE_URL"]


@bp.route("/01/<path:_rest>", methods=["GET", "OPTIONS"])
def resolve(_rest: str):
    if request.method == "OPTIONS":
        response = Response(status=204)
        response.headers.update(CORS_HEADERS)
        response.headers["Allow"] = "GET, HEAD, OPTIONS"
        return response
    link = _link_from_path(_raw_path())
    session = get_session()
    fast = _cached_scan_page(session, link)
    if fast is not None:
        return fast
    keys = key_service(session)
    credentials = CredentialService(session, keys)
    gtin_uri = f"{_base()}/01/{link.gtin}"
    if link.lot is None:
        # GTIN level: the product's page in the shop.
        response = current_app.view_functions["catalog.product_by_gtin"](link.gtin)
        response.headers["Link"] = resolver.link_header(gtin_uri)
        response.headers.update(CORS_HEADERS)
        return response
    batch = BatchRef(link.gtin, link.lot)
    records = credentials.credentials(batch)
    if not records:
        return _problem(404, "Unknown batch", "Không tìm thấy lô hàng này. / No batch with this identifier.", "lot")
    batch_uri = gs1.DigitalLink(link.gtin, link.lot).uri(_base())
    recall = RecallService(session, credentials).recall_of(batch)
    status = 410 if recall else 200
    link_type = request.args.get("linkType", "gs1:pip")

    if link_type in ("linkset", "all"):
        passport = credentials.latest_passport(batch)
        body = resolver.batch_linkset(batch_uri, product_name=_product_name(records[0].jws), gtin_uri=gtin_uri,
                                      has_passport=passport is not None, recalled=recall is not None)
        response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/linkset+json")
    elif link_type in ("gs1:traceability", "gs1:epcis"):
        from datetime import datetime, timezone

        from traceability import epcis

        result = VerificationService(session, keys).verify_batch(batch)
        events = [c.payload["credentialSubject"][0] for c in result.credentials if c.payload]
        document = epcis.epcis_document(events, creation_date=datetime.now(timezone.utc), sender=batch_uri)
        response = Response(json.dumps(document, ensure_ascii=False), status=status, mimetype="application/ld+json")
    elif link_type == "untp:dpp":
        passport = credentials.latest_passport(batch)
        if passport is None:
            return _problem(404, "No passport", "Lô hàng này chưa có hộ chiếu sản phẩm số. / No passport yet.", "linkType")
        response = Response(passport.jws, status=status, mimetype="application/vc+jwt")
    elif link_type in ("gs1:pip", "gs1:defaultLink"):
        warning = None
        if request.method == "GET":
            warning = scan_service(session).record(link.gtin, link.lot, link.serial, request.remote_addr)
        response = _trace_page(session, keys, batch, link, recall, status, warning)
    else:
        return _problem(404, "Link type not available",
                        f"Có các loại liên kết / available: {', '.join(sorted(resolver.LINK_TYPES) + ['linkset'])}", "linkType")
    response.headers["Link"] = resolver.link_header(batch_uri)
    response.headers.update(CORS_HEADERS)
    response.headers["Vary"] = "Accept, Accept-Language, Cookie"
    return response


def _product_name(token: str) -> str:
    try:
        _header, payload, _input, _sig = crypto.jws_parse_unverified(token)
        subject = json.loads(payload)["credentialSubject"][0]
        return (subject.get("quantityList") or subject.get("outputQuantityList") or [{}])[0].get("productName", "")
    except (crypto.JWSError, ValueError, KeyError, IndexError):
        return ""


PAGE_CACHE_SECONDS = 30  # a recall shows within this time (and the public Cache-Control matches)


def _page_cache() -> dict[tuple[str, str], tuple[float, bytes, int]]:
    # Per application (and so per process): rendered pages of anonymous visitors for a few seconds.
    return current_app.extensions.setdefault("nongsan.trace_pages", {})


def _cached_scan_page(session, link: gs1.DigitalLink) -> Response | None:
    """The hot path of a scan rush: an anonymous batch scan whose page was rendered moments ago
    costs a counter increment and no database query."""
    from flask_babel import get_locale
    from flask_login import current_user

    if (request.method != "GET" or link.lot is None or link.serial or request.args.get("linkType", "gs1:pip") != "gs1:pip"
            or current_user.is_authenticated or request.accept_mimetypes.best == "application/json"):
        return None
    cached = _page_cache().get((request.full_path, str(get_locale())))
    if cached is None or time.monotonic() - cached[0] >= PAGE_CACHE_SECONDS:
        return None
    scan_service(session).counter.add(link.gtin, link.lot, datetime.now(LOCAL_TZ).date())
    return _page_response(cached[1], cached[2], public=True, batch_uri=link.uri(_base()))


def _page_response(body: bytes, status: int, *, public: bool, batch_uri: str) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    if public:
        # Short enough that a reverse proxy or CDN never hides a recall for more than a minute.
        response.cache_control.public = True
        response.cache_control.max_age = PAGE_CACHE_SECONDS
        response.set_etag(hashlib.sha256(body).hexdigest()[:32])
        response.make_conditional(request)
    else:
        response.cache_control.private = True
        response.cache_control.no_store = True
    response.headers["Link"] = resolver.link_header(batch_uri)
    response.headers.update(CORS_HEADERS)
    response.headers["Vary"] = "Accept, Accept-Language, Cookie"
    return response


def _trace_page(session, keys, batch: BatchRef, link: gs1.DigitalLink, recall, status: int, warning: str | None = None):
    from flask_babel import get_locale
    from flask_login import current_user

    if request.accept_mimetypes.best == "application/json":
        result = VerificationService(session, keys).verify_batch(batch)
        response = jsonify(result.as_dict())
        response.status_code = status
        return response
    from flask import session as web_session

    # A page with a message for this visitor ("thank you for your report") is nobody else's page.
    anonymous = not current_user.is_authenticated and "_flashes" not in web_session
    page_cache = _page_cache()
    cache_key = (request.full_path, str(get_locale()))
    now = time.monotonic()
    cached = page_cache.get(cache_key) if anonymous and warning is None else None
    if cached and now - cached[0] < PAGE_CACHE_SECONDS:
        body, status = cached[1], cached[2]
    else:
        body = _render_trace_page(session, keys, batch, link, recall, warning).encode()
        if anonymous and warning is None:
            if len(page_cache) > 2000:
                page_cache.clear()
            page_cache[cache_key] = (now, body, status)
    response = _page_response(body, status, public=anonymous and warning is None, batch_uri=link.uri(_base()))
    if anonymous and warning is None and response.status_code != 304:
        _remember_for_fast_path(now, body, response, link)
    return response


def _remember_for_fast_path(stamp: float, body: bytes, response: Response, link: gs1.DigitalLink) -> None:
    """Hand the finished response to the WSGI micro-cache (traceability.fastpath)."""
    from flask_babel import get_locale

    fast = current_app.extensions.setdefault("nongsan.trace_fast", {})
    if len(fast) > 2000:
        fast.clear()
    headers = [(k, v) for k, v in response.headers.items() if k.lower() != "set-cookie"]
    raw = _raw_path()
    fast[(raw, request.query_string.decode(), str(get_locale()))] = (
        stamp, body, response.status, response.get_etag()[0], headers, (link.gtin, link.lot))


def _render_trace_page(session, keys, batch: BatchRef, link: gs1.DigitalLink, recall, warning: str | None) -> str:
    from traceability import events as events_module
    from traceability.scans import WARNINGS

    result = VerificationService(session, keys).verify_batch(batch)
    verified_events = [c.payload["credentialSubject"][0] for c in result.credentials if c.payload]
    issuer = next((c.payload["issuer"] for c in result.credentials if c.payload), None)
    findings = events_module.pre_harvest_findings(verified_events) + events_module.mass_balance_findings(verified_events)
    made_from, made_into = CredentialService(session, keys).neighbours(batch)
    from traceability import x509ca
    from traceability.transparency import log_origin

    root = keys.alliance_root()
    root_der = x509ca.cert_from_pem(root.certificate_pem).public_bytes(_DER)
    profile_hook = current_app.extensions.get("nongsan.trace_profile")
    profile = profile_hook(batch.gtin) if profile_hook else None
    return render_template(
        "traceability/trace.html", link=link, profile=profile, uri=link.uri(_base()), result=result, events=verified_events,
        scan_warning=WARNINGS.get(warning) if warning else None, warning_code=warning,
        issuer=issuer, recall=recall, findings=findings, root_sha256=crypto.sha256_hex(root_der),
        root_public_key=root.public_key,  # static/js/offline.js checks labels' fragments with it
        log_origin=log_origin(_base()), made_from=[gs1.DigitalLink(b.gtin, b.lot) for b in made_from],
        made_into=[gs1.DigitalLink(b.gtin, b.lot) for b in made_into],
    )


@bp.get("/.well-known/gs1resolver")
def resolver_description():
    response = jsonify(resolver.resolver_description(_base(), current_app.config["ALLIANCE_NAME"]))
    response.headers.update(CORS_HEADERS)
    return response


def _batch_link(prefix: str) -> gs1.DigitalLink:
    """The batch named by a Digital Link after `prefix` in this request's path; 400 without a lot."""
    link = _link_from_path(_raw_path().removeprefix(prefix))
    if link.lot is None:
        abort(_problem(400, "Lot required", "A lot (AI 10) is required", "lot"))
    return link


@bp.get("/api/verify/01/<path:_rest>")
def verify_json(_rest: str):
    link = _batch_link("/api/verify")
    session = get_session()
    result = VerificationService(session, key_service(session)).verify_batch(BatchRef(link.gtin, link.lot))
    if not result.credentials:
        return jsonify({"error": "Unknown batch", "field": "lot"}), 404
    response = jsonify(result.as_dict())
    response.headers.update(CORS_HEADERS)
    return response


@bp.get("/api/bundle/01/<path:_rest>")
def bundle(_rest: str):
    """Everything needed to verify the batch offline: `nongsan verify FILE`, or the page's own script."""
    link = _batch_link("/api/bundle")
    session = get_session()
    evidence = VerificationService(session, key_service(session)).gather(BatchRef(link.gtin, link.lot))
    if not evidence.credentials:
        return jsonify({"error": "Unknown batch", "field": "lot"}), 404
    response = Response(json.dumps(evidence.to_bundle(), ensure_ascii=False, indent=1), mimetype="application/json")
    filename = f"nongsan-{link.gtin}-{quote(link.lot, safe='')}.json"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers.update(CORS_HEADERS)
    return response


@bp.get("/qr/01/<path:_rest>")
def batch_qr(_rest: str):
    """The label's QR code: the Digital Link, or with ?offline=1 the Digital Link plus a signed summary
    in the fragment (traceability/compact.py). X-QR-Version tells the version it costs; ?info=1
    answers that as JSON instead of the image."""
    from traceability import compact
    from traceability.services import TraceabilityError

    path, _, fmt = _raw_path().removeprefix("/qr").rpartition(".")
    link = _link_from_path(path)
    level = request.args.get("ec", "M").upper()
    if level not in ERROR_LEVELS:
        return jsonify({"error": "Error correction must be L, M, Q or H", "field": "ec"}), 400
    if fmt not in ("png", "svg"):
        abort(404)
    uri = link.uri(_base())
    offline = request.args.get("offline") == "1"
    if offline:
        # A signed summary in the fragment, which browsers never send: the page checks it offline.
        if link.lot is None:
            return _problem(400, "A lot is required", "Mã kiểm tra ngoại tuyến cần số lô. / An offline code needs a lot.", "lot")
        session = get_session()
        try:
            uri += "#" + compact.offline_fragment_for(session, key_service(session), link.gtin, link.lot)
        except TraceabilityError as error:
            return _problem(error.status, "No offline code", error.message, error.field)
    version = compact.qr_version(uri, level)
    if request.args.get("info") == "1":
        response = jsonify({"version": version, "modules": 17 + 4 * version, "uri_length": len(uri), "ec": level,
                            "offline": offline})
    elif fmt == "png":
        response = Response(qr_png(uri, level), mimetype="image/png")
    else:
        response = Response(qr_svg(uri, level), mimetype="image/svg+xml")
    response.headers["X-QR-Version"] = str(version)
    if offline:
        response.cache_control.private = True  # signed today, for whoever prints the label
        response.cache_control.no_store = True
    return response


# -- the transparency log ------------------------------------------------------------------------
@bp.get("/log/checkpoint")
def log_checkpoint():
    session = get_session()
    checkpoint = transparency_log(session, key_service(session)).latest_checkpoint()
    if checkpoint is None:
        return _problem(404, "No checkpoint yet", "Nhật ký chưa có điểm kiểm tra. / The log has no checkpoint yet.")
    response = Response(checkpoint.note, mimetype="text/plain; charset=utf-8")
    response.headers.update(CORS_HEADERS)
    response.cache_control.max_age = 10
    return response


@bp.get("/log/key")
def log_key():
    session = get_session()
    keys = key_service(session)
    log = transparency_log(session, keys)
    root = keys.alliance_root()
    from traceability import merkle

    raw = crypto.b64url_decode(root.public_key)
    response = jsonify({"origin": log.origin, "publicKey": root.public_key,
                        "verifierKey": merkle.verifier_key_string(log.origin, raw), "certificate": root.certificate_pem})
    response.headers.update(CORS_HEADERS)
    return response


@bp.get("/log/proof/inclusion")
def log_inclusion():
    sha256 = (request.args.get("sha256") or "").lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        return _problem(400, "Bad hash", "sha256 must be 64 hexadecimal characters", "sha256")
    session = get_session()
    log = transparency_log(session, key_service(session))
    checkpoint = log.latest_checkpoint()
    proofs = log.inclusion_proofs([sha256], checkpoint)
    if sha256 not in proofs:
        return _problem(404, "Not in the log", "No entry with this hash is covered by the latest checkpoint", "sha256")
    response = jsonify(dict(proofs[sha256].as_dict(), checkpoint=checkpoint.note))
    response.headers.update(CORS_HEADERS)
    return response


@bp.get("/log/proof/consistency")
def log_consistency():
    first, second = request.args.get("first", type=int), request.args.get("second", type=int)
    if first is None or second is None:
        return _problem(400, "Missing sizes", "Give first and second tree sizes", "first" if first is None else "second")
    session = get_session()
    try:
        proof = transparency_log(session, key_service(session)).consistency(first, second)
    except ValueError as error:
        return _problem(400, "Bad sizes", str(error), "second")
    response = jsonify({"first": first, "second": second, "proof": [crypto.b64url_encode(p) for p in proof]})
    response.headers.update(CORS_HEADERS)
    return response


# -- did:web documents ---------------------------------------------------------------------------
@bp.get("/.well-known/did.json")
def alliance_did():
    session = get_session()
    keys = key_service(session)
    document = keys.did_document(IssuerRef(KeyOwnerKind.ALLIANCE, None, current_app.config["ALLIANCE_NAME"]))
    response = jsonify(document)
    response.headers.update(CORS_HEADERS)
    return response


@bp.get("/<any(cooperative, partner):kind>/<int:owner_id>/did.json")
def organisation_did(kind: str, owner_id: int):
    session = get_session()
    keys = key_service(session)
    issuer = IssuerRef(kind, owner_id, "")
    owned = keys.keys_of(issuer)
    if not owned:
        abort(404)
    document = keys.did_document(IssuerRef(kind, owner_id, owned[0].owner_name))
    response = jsonify(document)
    response.headers.update(CORS_HEADERS)
    return response


REPORT_CATEGORIES = ("quality", "label", "counterfeit", "other")


@bp.post("/report/01/<path:_rest>")
@limiter.limit(_report_limit, methods=["POST"])
def report_problem(_rest: str):
    """A consumer reports a problem with a batch. No account; rate-limited per address."""
    from flask import flash, redirect

    from traceability.models import ProblemReport
    from kernel import outbox

    link = _link_from_path(_raw_path().removeprefix("/report"))
    if link.lot is None:
        abort(404)
    session = get_session()
    if not CredentialService(session, key_service(session)).credentials(BatchRef(link.gtin, link.lot)):
        abort(404)
    category = request.form.get("category", "")
    message = (request.form.get("message") or "").strip()
    contact = (request.form.get("contact") or "").strip()[:120] or None
    from flask_babel import gettext

    problems = {}
    if category not in REPORT_CATEGORIES:
        problems["category"] = gettext("Choose what the problem is about.")
    if not 10 <= len(message) <= 2000:
        problems["message"] = gettext("Describe the problem in 10 to 2000 characters.")
    if problems:
        return jsonify({"error": next(iter(problems.values())), "field": next(iter(problems))}), 400
    report = ProblemReport(gtin=link.gtin, lot=link.lot, serial=link.serial, category=category, message=message, contact=contact)
    session.add(report)
    session.flush()
    outbox.enqueue(session, "nongsan.catalog.send_problem_report", report_id=report.id)
    flash(gettext("Thank you. The cooperative and the alliance have received your report."), "success")
    return redirect(link.path + "#report", 303)


def init_limits(app) -> None:
    # The trace page is cached publicly, so its report form carries no per-visitor CSRF token; the
    # report needs no account and changes nothing of anyone's, and the rate limit bounds abuse.
    csrf.exempt(report_problem)
